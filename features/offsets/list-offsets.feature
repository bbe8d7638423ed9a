@wire @kip-32
Feature: ListOffsets answers earliest, latest and by timestamp
  ListOffsets with timestamp -2 answers the log start offset, -1 the high watermark, -3 the
  offset of the record with the largest timestamp (KIP-734), and a timestamp the offset of the
  first record whose timestamp is at or after it, or -1 when there is none (KIP-32, KIP-33).

  Background:
    Given a topic "clock" with 1 partition
    When records with the timestamps "1000,2000,3000,5000,4000" are produced to partition 0 of "clock" by the wire client

  Scenario: ListOffsets for earliest and latest answers the log start and end
    Then the earliest offset of partition 0 of "clock" is 0
    And the log end offset of partition 0 of "clock" is 5

  Scenario: ListOffsets by timestamp finds the first record at or after it
    Then ListOffsets for timestamp 2000 on partition 0 of "clock" answers 1
    And ListOffsets for timestamp 2500 on partition 0 of "clock" answers 2
    And ListOffsets for timestamp 0 on partition 0 of "clock" answers 0
    And ListOffsets for timestamp 4500 on partition 0 of "clock" answers 3

  Scenario: ListOffsets for a timestamp after every record answers -1
    Then ListOffsets for timestamp 9000 on partition 0 of "clock" answers -1

  @kip-734
  Scenario: ListOffsets for the largest timestamp finds its record
    Then the offset of the record with the largest timestamp in partition 0 of "clock" is 3
