@groups @real-client @kip-62
Feature: A consumer that stops polling leaves the group after max.poll.interval.ms

  Since KIP-62 a consumer heartbeats from a background thread, so a slow application stays in
  the group past `session.timeout.ms`; `max.poll.interval.ms` bounds the time between polls,
  and a consumer that exceeds it leaves the group (librdkafka sends LeaveGroup) and the group
  rebalances without it at once, not a session timeout later. Here session.timeout.ms is 3000
  and max.poll.interval.ms 5000: the stalled consumer is still a member 3500 ms into its stall,
  and the others own its partitions within 1500 ms of its poll interval running out (librdkafka
  checks the interval twice a second).

  Scenario: a consumer that exceeds max.poll.interval.ms leaves, its heartbeats notwithstanding
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "reports" with 4 partitions
    And a consumer configured with:
      | session.timeout.ms            | 3000  |
      | heartbeat.interval.ms         | 200   |
      | max.poll.interval.ms          | 5000  |
      | partition.assignment.strategy | range |
    When consumers "c1,c2,c3" join group "renderers" subscribed to "reports"
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "reports"
    When consumer "c1" stops polling
    Then for 3500 ms consumers "c2,c3" see no rebalance
    And within 3000 ms consumers "c2,c3" share the partitions of "reports"
