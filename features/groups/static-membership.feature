@groups @real-client @kip-345
Feature: A static member that restarts within session.timeout.ms keeps its partitions without a rebalance

  A consumer with a `group.instance.id` is a static member (KIP-345): when it restarts and
  joins again within `session.timeout.ms`, the coordinator replaces its member id and hands it
  its previous assignment in the same generation; the other members see no rebalance. A crash
  of a static member sends no LeaveGroup anyway; librdkafka sends none for static members.

  Scenario: a static member restarted within session.timeout.ms gets its partitions back in the same generation
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "inventory" with 4 partitions
    And a consumer configured with:
      | session.timeout.ms            | 10000 |
      | heartbeat.interval.ms         | 200   |
      | partition.assignment.strategy | range |
    When consumers "c1,c2,c3" join group "stores" subscribed to "inventory" as static members
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "inventory"
    When consumer "c2" is killed
    And consumer "c2" joins group "stores" subscribed to "inventory" as a static member
    Then within 5000 ms consumers "c1,c2,c3" share the partitions of "inventory"
    And consumer "c2" got back the partitions it owned before, in the same generation
    And in that rebalance consumers "c1,c3" kept their partitions in the same generation, with no callback
