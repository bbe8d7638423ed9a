@groups @real-client
Feature: Every subscribed partition is owned by exactly one member of a consumer group

  In the classic group protocol the group's leader assigns the subscribed partitions and the
  coordinator hands each member its share in SyncGroup. In every generation each partition
  belongs to exactly one member (Kafka's documentation, "Consumers": "each record published to
  a topic is delivered to one consumer instance within each subscribing consumer group"; the
  JoinGroup and SyncGroup requests of the protocol guide). The broker's DescribeGroups shows
  the same assignments the consumers hold.

  Background:
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "orders" with 4 partitions
    And a consumer configured with:
      | session.timeout.ms            | 2000     |
      | heartbeat.interval.ms         | 200      |
      | partition.assignment.strategy | range    |
      | auto.offset.reset             | earliest |

  Scenario: members joining and leaving never share a partition and leave none unowned
    When consumer "c1" joins group "order-processors" subscribed to "orders"
    Then within 10000 ms consumers "c1" share the partitions of "orders"
    When consumer "c2" joins group "order-processors" subscribed to "orders"
    Then within 10000 ms consumers "c1,c2" share the partitions of "orders"
    When consumer "c3" joins group "order-processors" subscribed to "orders"
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "orders"
    When consumer "c2" is closed
    Then within 10000 ms consumers "c1,c3" share the partitions of "orders"
    And no partition was assigned to two consumers in any generation

  Scenario: DescribeGroups shows each member with the partitions its consumer owns
    When consumers "c1,c2,c3" join group "order-processors" subscribed to "orders"
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "orders"
    And DescribeGroups shows group "order-processors" Stable with the partitions each consumer owns
