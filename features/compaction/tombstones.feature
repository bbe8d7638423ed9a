@compaction @kip-534 @wire
Feature: A tombstone stays readable for delete.retention.ms, then goes
  A record with a key and a null value, a tombstone, deletes its key: compaction removes the
  key's earlier records, and keeps the tombstone itself for delete.retention.ms after the first
  cleaning pass that sees it, so that a consumer reading the whole log in that time sees the
  deletion; a later pass removes it (Kafka's topic configs, delete.retention.ms: "the amount of
  time to retain delete tombstone markers for log compacted topics"; KIP-534 counts that time
  from the first cleaning pass). The cleaner runs again only when a log has new dirty records,
  so while the scenarios wait, records with keys of their own keep arriving.

  Scenario: a tombstone is readable for delete.retention.ms and removed after it
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "sessions" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
      | delete.retention.ms       | 3000    |
    When records with the keys and values "k1=a1,k2=b1" are produced to partition 0 of "sessions"
    And a tombstone for key "k1" is produced to partition 0 of "sessions"
    And records with the keys and values "k3=c1" are produced to partition 0 of "sessions"
    Then within 10000 ms partition 0 of "sessions" is compacted
    And the tombstone for key "k1" in partition 0 of "sessions" is readable for delete.retention.ms after it was acknowledged
    And within 20000 ms the tombstone for key "k1" is removed from partition 0 of "sessions"
    And retention and compaction removed nothing they must keep

  Scenario: a consumer that reads the whole log before tombstones are removed sees every deletion
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "sessions" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    When records with the keys and values "k1=a1,k2=b1,k3=c1" are produced to partition 0 of "sessions"
    And a tombstone for key "k1" is produced to partition 0 of "sessions"
    And a tombstone for key "k2" is produced to partition 0 of "sessions"
    And records with the keys and values "k4=d1" are produced to partition 0 of "sessions"
    Then within 10000 ms partition 0 of "sessions" is compacted
    When a consumer reads partition 0 of "sessions" from the beginning
    Then the consumer reads a tombstone for key "k1"
    And the consumer reads a tombstone for key "k2"
    And the consumer reads exactly the latest value of each key, in offset order, at their original offsets
    And retention and compaction removed nothing they must keep
