@real-client @process @fault
Feature: A paused broker leaves sends unknown, and no acknowledged record is lost
  A broker that stops answering (a long GC pause, a stalled disk; here SIGSTOP) leaves the
  client's in-flight sends without an answer: after message.timeout.ms librdkafka gives up on
  them, and their outcome is unknown, not failed; they may still be appended once the broker
  resumes. Every record acknowledged before or after the pause is read exactly once
  (Jepsen's client contract: a timeout is indeterminate).

  Scenario: sends to a paused broker end unknown and acknowledged records are read exactly once
    Given a topic "stalled" with 1 partition
    And a producer configured with:
      | acks               | all  |
      | message.timeout.ms | 1500 |
    When 50 records are produced to partition 0 of "stalled"
    And the broker is paused
    And 20 records are produced to partition 0 of "stalled"
    And the broker is resumed
    And 30 records are produced to partition 0 of "stalled"
    And a consumer reads partition 0 of "stalled" from the beginning
    Then some sends ended unknown
    And every acknowledged record is read exactly once
