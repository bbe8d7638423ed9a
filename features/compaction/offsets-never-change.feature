@compaction @wire
Feature: Compaction never changes an offset, also inside a segment of many batches
  "The offset for a message never changes" (Kafka's documentation, "Log Compaction"): the cleaner
  removes superseded records and keeps the others where they were, so a compacted segment has
  gaps between the batches it keeps and inside them. Here segment.bytes holds about five
  single-record batches, so the cleaner rewrites segments of several batches.

  Scenario: records kept among many batches of a segment keep their offsets
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "ledger" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 400     |
      | min.cleanable.dirty.ratio | 0.01    |
    When records with the keys and values "k1=a1,k2=b1,k1=a2,k3=c1,k2=b2,k1=a3,k2=b3,k4=d1" are produced to partition 0 of "ledger"
    And records with the keys and values "k5=e1,k6=f1,k7=g1,k8=h1,k9=i1,k10=j1" are produced to partition 0 of "ledger"
    Then within 10000 ms partition 0 of "ledger" is compacted
    When a consumer reads partition 0 of "ledger" from the beginning
    Then the consumer reads exactly the latest value of each key, in offset order, at their original offsets
    And retention and compaction removed nothing they must keep
