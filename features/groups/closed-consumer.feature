@groups @real-client
Feature: A consumer that closes hands its partitions over at once

  A consumer that closes sends LeaveGroup, and the coordinator rebalances the group right away
  instead of waiting for `session.timeout.ms` to expire it (Kafka's consumer documentation,
  `close()`; the LeaveGroup request). The session timeout here is long, so only LeaveGroup can
  explain a prompt handover.

  Scenario: the others own every partition well before session.timeout.ms
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "tasks" with 4 partitions
    And a consumer configured with:
      | session.timeout.ms            | 10000 |
      | heartbeat.interval.ms         | 200   |
      | partition.assignment.strategy | range |
    When consumers "c1,c2,c3" join group "workers" subscribed to "tasks"
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "tasks"
    When consumer "c1" is closed
    Then within 3000 ms consumers "c2,c3" share the partitions of "tasks"
