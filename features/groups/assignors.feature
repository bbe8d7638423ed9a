@groups @real-client
Feature: The range, roundrobin and cooperative-sticky assignors give the assignments Kafka documents

  The group's leader computes the assignment with the first assignor every member supports
  (`partition.assignment.strategy`). Members are ordered by `group.instance.id` when static,
  else by member id (Kafka's `AbstractPartitionAssignor.MemberInfo`, librdkafka's
  `rd_kafka_group_member_cmp`): the consumers here are static members named in order.
  RangeAssignor: "for each topic, we lay out the available partitions in numeric order and the
  consumers in lexicographic order ... the first few consumers will have one extra partition"
  (its Javadoc: 7 partitions over 3 consumers are 3, 2 and 2 contiguous partitions).
  RoundRobinAssignor deals the partitions out one at a time in turn. The cooperative-sticky
  assignor (KIP-429) keeps each member's partitions where it can, and a member revokes only
  the partitions that move to another.

  Background:
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |

  Scenario: range gives 7 partitions to 3 consumers as 3, 2 and 2 contiguous partitions
    Given a topic "seven" with 7 partitions
    And a consumer configured with:
      | session.timeout.ms            | 2000  |
      | heartbeat.interval.ms         | 200   |
      | partition.assignment.strategy | range |
    When consumers "c1,c2,c3" join group "rangers" subscribed to "seven" as static members
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "seven"
    And the partitions of "seven" are assigned:
      | consumer | partitions |
      | c1       | 0,1,2      |
      | c2       | 3,4        |
      | c3       | 5,6        |

  Scenario: roundrobin deals 7 partitions to 3 consumers in turn
    Given a topic "seven" with 7 partitions
    And a consumer configured with:
      | session.timeout.ms            | 2000       |
      | heartbeat.interval.ms         | 200        |
      | partition.assignment.strategy | roundrobin |
    When consumers "c1,c2,c3" join group "dealers" subscribed to "seven" as static members
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "seven"
    And the partitions of "seven" are assigned:
      | consumer | partitions |
      | c1       | 0,3,6      |
      | c2       | 1,4        |
      | c3       | 2,5        |

  @kip-429
  Scenario: with cooperative-sticky a joining member takes partitions and the others revoke only those
    Given a topic "sticky" with 4 partitions
    And a consumer configured with:
      | session.timeout.ms            | 2000               |
      | heartbeat.interval.ms         | 200                |
      | partition.assignment.strategy | cooperative-sticky |
    When consumers "c1,c2" join group "stickers" subscribed to "sticky"
    Then within 10000 ms consumers "c1,c2" share the partitions of "sticky"
    When consumer "c3" joins group "stickers" subscribed to "sticky"
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "sticky"
    And in that rebalance consumers "c1,c2" were revoked only the partitions that moved
    And no partition was assigned to two consumers in any generation
