@kip-98 @transactions @compaction @real-client @process
Feature: compaction keeps a transaction's marker while any of its records remains
  A transaction's commit or abort marker is what tells a reader, and a broker rebuilding its
  producer state after a restart, that the transaction is over. Kafka's log cleaner keeps a
  marker as long as a batch of its transaction is left in the log (and while it is its
  producer's last batch), then gives it a delete horizon of `delete.retention.ms` and removes it
  on a later pass (`LogCleaner`, `CleanedTransactionMetadata`). A marker removed too early
  leaves the transaction's records looking open after a restart, and read_committed consumers
  stop at its first record for good. Here segment.bytes is smaller than one batch, so every
  batch is a segment of its own, and the last batch closes the segment before it.

  Background:
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "accounts" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    And a transactional producer "tx"
    And a consumer configured with:
      | isolation.level | read_committed |

  Scenario: after compaction and a restart, read_committed still reads past a committed transaction
    When records with the keys and values "k1=a1" are produced to partition 0 of "accounts"
    And "tx" commits a transaction of records with the keys and values "k1=c1,k2=c2" to partition 0 of "accounts"
    And records with the keys and values "k3=d1,k4=d2" are produced to partition 0 of "accounts"
    Then within 10000 ms partition 0 of "accounts" is compacted
    When the broker is restarted
    And a consumer reads partition 0 of "accounts" from the beginning
    Then the consumer reads exactly the latest value of each key, in offset order, at their original offsets
