@groups @real-client
Feature: Consumers beyond the partition count idle

  A partition has one owner in a group, so a group with more members than partitions leaves
  the extra members without partitions (Kafka's documentation, "Consumers": "if there are more
  consumer instances in a group than partitions, some consumers will be idle"). With the range
  assignor and static members c1 to c6, the first four take one partition each.

  Scenario: six consumers share four partitions and two of them own nothing
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "few" with 4 partitions
    And a consumer configured with:
      | session.timeout.ms            | 2000  |
      | heartbeat.interval.ms         | 200   |
      | partition.assignment.strategy | range |
    When consumers "c1,c2,c3,c4,c5,c6" join group "crowd" subscribed to "few" as static members
    Then within 10000 ms consumers "c1,c2,c3,c4,c5,c6" share the partitions of "few"
    And the partitions of "few" are assigned:
      | consumer | partitions |
      | c1       | 0          |
      | c2       | 1          |
      | c3       | 2          |
      | c4       | 3          |
      | c5       |            |
      | c6       |            |
