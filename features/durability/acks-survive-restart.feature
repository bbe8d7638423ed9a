@real-client @process
Feature: Acknowledged records survive a broker restart
  A record acknowledged with acks=1 or acks=all is in the leader's log; a broker that restarts
  (cleanly, or after kill -9 when every write is flushed: log.flush.interval.messages=1, the
  reference's default) serves every acknowledged record again. A single broker has no replicas,
  so here acks=all waits for the leader alone (min.insync.replicas=1).

  Scenario Outline: acks=<acks> records survive a restart
    Given a topic "durable" with 1 partition
    And a producer configured with:
      | acks | <acks> |
    When 200 records are produced to partition 0 of "durable"
    And the broker is restarted
    And a consumer reads partition 0 of "durable" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

    Examples:
      | acks |
      | all  |
      | 1    |

  Scenario: acks=all records survive kill -9
    Given a topic "durable" with 1 partition
    And a producer configured with:
      | acks | all |
    When 200 records are produced to partition 0 of "durable"
    And the broker is killed with SIGKILL and started again
    And a consumer reads partition 0 of "durable" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

  Scenario: a restarted broker keeps numbering where it stopped
    Given a topic "durable" with 1 partition
    When 50 records are produced to partition 0 of "durable"
    And the broker is killed with SIGKILL and started again
    And 50 records are produced to partition 0 of "durable"
    Then every send is acknowledged
    And the acknowledged offsets of partition 0 of "durable" are contiguous from 0
