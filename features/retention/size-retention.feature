@retention @wire
Feature: retention.bytes keeps a partition within one segment of it
  With cleanup.policy=delete and retention.bytes set, a broker deletes a partition's oldest
  segments while what remains would still hold at least retention.bytes (Kafka's topic configs,
  retention.bytes: "the maximum size a partition ... can grow to before we will discard old log
  segments to free up space"). Afterwards the partition holds at least retention.bytes and less
  than retention.bytes plus its oldest segment. Here segment.bytes is smaller than one batch,
  so every record is a segment of its own.

  Scenario: retention.bytes deletes the oldest segments down to within one segment of it
    Given the brokers are configured with:
      | log.retention.check.interval.ms | 200 |
    And a topic "bounded" with 1 partition and the configs:
      | cleanup.policy  | delete |
      | retention.bytes | 400    |
      | segment.bytes   | 14     |
    When 20 records stamped now are produced to partition 0 of "bounded"
    Then within 5000 ms partition 0 of "bounded" holds at least retention.bytes and less than retention.bytes plus its oldest segment
    When a consumer reads partition 0 of "bounded" from the beginning
    Then every acknowledged record at or above the earliest offset of partition 0 of "bounded" is read
    And retention and compaction removed nothing they must keep
