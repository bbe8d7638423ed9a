@retention @wire
Feature: retention.ms deletes the segments whose newest record is older than it
  With cleanup.policy=delete, a broker deletes a partition's oldest segments while the largest
  timestamp in the segment is older than retention.ms, and moves the log start offset to the first
  segment it keeps (Kafka's topic configs, retention.ms: "the maximum time we will retain a log
  before we will discard old log segments"; cleanup.policy). Timestamps are the records'
  CreateTime, which the producer chooses (KIP-32), not the time they were appended. Deletion
  takes whole segments from the oldest and stops at the first segment it may not delete; it
  never deletes at or above the high watermark. Here segment.bytes is smaller than one batch,
  so every record is a segment of its own.

  Background:
    Given the brokers are configured with:
      | log.retention.check.interval.ms | 200 |
    And a topic "aged" with 1 partition and the configs:
      | cleanup.policy | delete  |
      | retention.ms   | 3600000 |
      | segment.bytes  | 14      |

  Scenario: retention.ms deletes the records older than it and keeps the newer ones
    When 5 records stamped 2 hours ago are produced to partition 0 of "aged"
    And 5 records stamped now are produced to partition 0 of "aged"
    Then within 5000 ms the earliest offset of partition 0 of "aged" is 5
    And the earliest offset of partition 0 of "aged" stays 5 for 1000 ms
    When a consumer reads partition 0 of "aged" from the beginning
    Then the consumer reads offsets 5 to 9
    And retention and compaction removed nothing they must keep

  Scenario: the newest segment is kept when every older one has expired
    When 5 records stamped 2 hours ago are produced to partition 0 of "aged"
    And 1 record stamped now are produced to partition 0 of "aged"
    Then within 5000 ms the earliest offset of partition 0 of "aged" is 5
    And the earliest offset of partition 0 of "aged" stays 5 for 1000 ms
    When a consumer reads partition 0 of "aged" from the beginning
    Then the consumer reads offsets 5 to 5

  # When every segment has expired, the active one included, Kafka rolls a new, empty active
  # segment and deletes them all (UnifiedLog.deleteSegments: "we must always have at least one
  # segment"): the log start is then the log end. A restart must keep numbering there, from the
  # empty segment's base offset, not from 0 nor from the last record it still remembers.
  @process
  Scenario Outline: when every record has expired the log empties, and after it <restart> it numbers on from where it was
    When 5 records stamped 2 hours ago are produced to partition 0 of "aged"
    Then within 5000 ms the earliest offset of partition 0 of "aged" is 5
    When the broker is <restart>
    And 1 record stamped now are produced to partition 0 of "aged"
    Then the earliest offset of partition 0 of "aged" stays 5 for 1000 ms
    When a consumer reads partition 0 of "aged" from the beginning
    Then the consumer reads offsets 5 to 5

    Examples:
      | restart                                |
      | restarted                              |
      | killed with SIGKILL and started again |

  Scenario: a newer segment keeps the older segments after it
    When 3 records stamped 2 hours ago are produced to partition 0 of "aged"
    And 2 records stamped now are produced to partition 0 of "aged"
    And 3 records stamped 2 hours ago are produced to partition 0 of "aged"
    And 1 record stamped now are produced to partition 0 of "aged"
    Then within 5000 ms the earliest offset of partition 0 of "aged" is 3
    And the earliest offset of partition 0 of "aged" stays 3 for 1000 ms
    When a consumer reads partition 0 of "aged" from the beginning
    Then the consumer reads offsets 3 to 8
    And retention and compaction removed nothing they must keep

  Scenario: records within retention.ms are all kept
    When 5 records stamped now are produced to partition 0 of "aged"
    Then the earliest offset of partition 0 of "aged" stays 0 for 1000 ms
    When a consumer reads partition 0 of "aged" from the beginning
    Then the consumer reads offsets 0 to 4

  # A segment's age is its largest record timestamp, wherever that record sits: here the only
  # recent record is in the middle of a batch in the middle of a segment. At segment.bytes 400
  # the first segment holds the two old single-record batches (about 80 bytes each), the
  # three-record batch and the old record after it; the next record rolls it.
  Scenario: a segment whose newest record sits mid-batch and mid-segment is kept
    Given a topic "mixed" with 1 partition and the configs:
      | cleanup.policy | delete  |
      | retention.ms   | 3600000 |
      | segment.bytes  | 400     |
    When 2 records stamped 2 hours ago are produced to partition 0 of "mixed"
    And a batch of records stamped "2 hours ago, now, 2 hours ago" is produced to partition 0 of "mixed" by the wire client
    And 1 record stamped 2 hours ago are produced to partition 0 of "mixed"
    And 5 records stamped now are produced to partition 0 of "mixed"
    Then the earliest offset of partition 0 of "mixed" stays 0 for 2000 ms
    When a consumer reads partition 0 of "mixed" from the beginning
    Then the consumer reads offsets 0 to 10
    And retention and compaction removed nothing they must keep
