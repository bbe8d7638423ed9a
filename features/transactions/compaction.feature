@kip-98 @transactions @compaction @real-client
Feature: compaction removes aborted transactions' records
  On a compacted topic the log cleaner keeps the latest record of each key, and an aborted
  transaction's records are not records of their keys at all: Kafka's cleaner removes them
  whatever their keys, and they supersede nothing (`Cleaner` with the transaction index). It
  never cleans past the last stable offset, so an undecided transaction's records stay until
  their transaction is decided. Here segment.bytes is smaller than one batch, so every batch is
  a segment of its own, and the last record, with a key of its own, closes the segment before it.

  Background:
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "accounts" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    And a transactional producer "tx"
    # read_uncommitted reads what the log holds, aborted records included: only the cleaner
    # removes them.
    And a consumer configured with:
      | isolation.level | read_uncommitted |

  Scenario: the cleaner removes an aborted transaction's records whatever their keys
    When records with the keys and values "k1=a1,k1=a2" are produced to partition 0 of "accounts"
    And "tx" aborts a transaction of records with the keys and values "k2=x1,k3=x2" to partition 0 of "accounts"
    And records with the keys and values "k4=d1" are produced to partition 0 of "accounts"
    Then within 10000 ms partition 0 of "accounts" is compacted
    When a consumer reads partition 0 of "accounts" from the beginning
    Then no record with key "k2" is read
    And no record with key "k3" is read
    And the consumer reads exactly the latest value of each key, in offset order, at their original offsets
