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

  # A batch's header carries its largest timestamp, not where it is: the answer is the record.
  @kip-734
  Scenario: ListOffsets for the largest timestamp finds a record that is not last in its batch
    When a batch of records stamped "3 hours ago, 1 hour ago, 2 hours ago" is produced to partition 0 of "clock" by the wire client
    And a batch of records stamped "5 hours ago, 4 hours ago" is produced to partition 0 of "clock" by the wire client
    Then the offset of the record with the largest timestamp in partition 0 of "clock" is 6

  # segment.bytes below one batch puts every record in a segment of its own, so the answer
  # depends on choosing the first segment whose largest timestamp is at or after the target
  # (Kafka's `fetchOffsetByTimestamp`). retention.ms=-1 keeps records stamped in 1970.
  Scenario: ListOffsets by timestamp at a segment's largest timestamp finds that segment's record
    Given a topic "ticks" with 1 partition and the configs:
      | segment.bytes | 14 |
      | retention.ms  | -1 |
    When records with the timestamps "1000,2000,3000,5000,4000" are produced to partition 0 of "ticks" by the wire client
    Then ListOffsets for timestamp 1999 on partition 0 of "ticks" answers 1
    And ListOffsets for timestamp 2000 on partition 0 of "ticks" answers 1
    And ListOffsets for timestamp 2001 on partition 0 of "ticks" answers 2
    And ListOffsets for timestamp 4001 on partition 0 of "ticks" answers 3
    And ListOffsets for timestamp 5000 on partition 0 of "ticks" answers 3
    And ListOffsets for timestamp 5001 on partition 0 of "ticks" answers -1
