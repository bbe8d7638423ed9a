@real-client
Feature: auto.offset.reset decides where an out-of-range consumer goes
  A fetch at an offset outside the log is answered with OFFSET_OUT_OF_RANGE; the consumer then
  applies auto.offset.reset: earliest moves to the log start, latest to the log end, and none
  reports the error to the application (Kafka's consumer configuration, auto.offset.reset).

  Background:
    Given a topic "history" with 1 partition
    When 20 records are produced to partition 0 of "history"

  Scenario: auto.offset.reset=earliest restarts an out-of-range consumer at the log start
    Given a consumer configured with:
      | auto.offset.reset | earliest |
    When a consumer reads partition 0 of "history" from offset 1000
    Then the consumer reads offsets 0 to 19

  Scenario: auto.offset.reset=none reports OFFSET_OUT_OF_RANGE
    Given a consumer configured with:
      | auto.offset.reset | none |
    When a consumer reads partition 0 of "history" from offset 1000
    Then the consumer fails with OFFSET_OUT_OF_RANGE

  Scenario: a consumer in range is not reset
    Given a consumer configured with:
      | auto.offset.reset | none |
    When a consumer reads partition 0 of "history" from offset 5
    Then the consumer reads offsets 5 to 19

  Scenario: auto.offset.reset=latest moves an out-of-range consumer to the log end
    Given a consumer configured with:
      | auto.offset.reset | latest |
    When a consumer reads 5 records of partition 0 of "history" from offset 1000000000 while records keep arriving
    Then the consumer's first record is at offset 20 or later
