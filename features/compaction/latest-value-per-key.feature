@compaction @wire
Feature: Compaction keeps the latest value of each key at its original offset
  With cleanup.policy=compact, the log cleaner keeps at least the last record of every key and
  removes the records it supersedes; the records it keeps keep their offsets, so a compacted log
  has gaps (Kafka's topic configs, cleanup.policy; the documentation's "Log Compaction": "the
  offset for a message never changes"). It cleans a log once its dirty ratio passes
  min.cleanable.dirty.ratio, or once a record has waited max.compaction.lag.ms (KIP-354), and
  never touches the active segment or anything at or above the high watermark. A consumer whose
  position was compacted away reads on from the next record there is, with no error. Here
  segment.bytes is smaller than one batch, so every record is a segment of its own, and each
  scenario's last record, with a key of its own, closes the segment before it.

  Background:
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "accounts" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    When records with the keys and values "k1=a1,k2=b1,k1=a2,k3=c1,k2=b2,k1=a3" are produced to partition 0 of "accounts"
    And records with the keys and values "k4=d1" are produced to partition 0 of "accounts"
    Then within 10000 ms partition 0 of "accounts" is compacted

  Scenario: compaction keeps the latest value of each key at the offset it was written at
    When a consumer reads partition 0 of "accounts" from the beginning
    Then the consumer reads exactly the latest value of each key, in offset order, at their original offsets
    And retention and compaction removed nothing they must keep

  Scenario: a consumer whose position was compacted away reads on from the next record
    Given a consumer configured with:
      | auto.offset.reset | none |
    When a consumer reads partition 0 of "accounts" from offset 1
    Then the consumer's first record is at offset 3
    And the consumer reads exactly the latest value of each key, in offset order, at their original offsets

  # Producers batch records of many keys together: the cleaner judges each record by its own
  # offset, not its batch's. Here a key's latest record is inside a batch, ahead of other keys.
  Scenario: the latest record of a key is kept when records of other keys follow it in its batch
    Given a topic "ledger" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    When a batch of records with the keys "k1,k2,k1,k3,k2,k4" is produced to partition 0 of "ledger" by the wire client
    And a batch of records with the keys "k4,k1,k5" is produced to partition 0 of "ledger" by the wire client
    And records with the keys and values "k9=z1" are produced to partition 0 of "ledger"
    Then within 10000 ms partition 0 of "ledger" is compacted
    When a consumer reads partition 0 of "ledger" from the beginning
    Then the consumer reads exactly the latest value of each key, in offset order, at their original offsets
    And retention and compaction removed nothing they must keep

  # The cleaner writes the records it keeps in their batch's codec (Kafka's `Cleaner.cleanInto`
  # builds each retained batch with the original batch's compression type), so a compressed
  # topic stays compressed after compaction.
  Scenario Outline: compaction keeps a <codec> batch compressed with <codec>
    Given a topic "packed" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | compression.type          | <codec> |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    When a batch of records with the keys "k1,k2,k1,k3,k2,k4" is produced to partition 0 of "packed" by the wire client
    And records with the keys and values "k9=z1" are produced to partition 0 of "packed"
    Then within 10000 ms partition 0 of "packed" is compacted
    And every batch of partition 0 of "packed" is stored compressed with <codec>, with a valid CRC
    When a consumer reads partition 0 of "packed" from the beginning
    Then the consumer reads exactly the latest value of each key, in offset order, at their original offsets
    And retention and compaction removed nothing they must keep

    Examples:
      | codec  |
      | gzip   |
      | snappy |
      | lz4    |
      | zstd   |
