@real-client
Feature: auto.offset.reset decides where an out-of-range consumer goes
  A fetch at an offset outside the log is answered with OFFSET_OUT_OF_RANGE; the consumer then
  applies auto.offset.reset: earliest moves to the log start, latest to the log end, and none
  reports the error to the application (Kafka's consumer configuration, auto.offset.reset).
  The same applies when a consumer resumes at its group's committed offset and the group has
  none: OffsetFetch answers offset -1 for a partition the group never committed, and with none
  the consumer reports it instead of choosing a position (Java's NoOffsetForPartitionException;
  librdkafka's _AUTO_OFFSET_RESET).

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

  @groups
  Scenario: auto.offset.reset=none on a group that committed nothing fails instead of reading
    Given a consumer configured with:
      | auto.offset.reset | none |
    When a consumer in group "auditors" reads partition 0 of "history" from the group's committed offset
    Then the consumer fails with _AUTO_OFFSET_RESET
    And the consumer read no record

  @groups
  Scenario: auto.offset.reset=earliest on a group that committed nothing reads from the log start
    Given a consumer configured with:
      | auto.offset.reset | earliest |
    When a consumer in group "auditors" reads partition 0 of "history" from the group's committed offset
    Then the consumer reads offsets 0 to 19

  @groups
  Scenario: a consumer resumes at its group's committed offset, whatever auto.offset.reset says
    Given a consumer configured with:
      | auto.offset.reset | none |
    When offset 12 with metadata "resume" is committed to partition 0 of "history" for group "auditors"
    And a consumer in group "auditors" reads partition 0 of "history" from the group's committed offset
    Then the consumer reads offsets 12 to 19
