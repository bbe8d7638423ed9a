@compaction @replication @wire
Feature: Every replica compacts to the same latest value of each key
  Each replica of a compacted partition runs its own log cleaner, so replicas hold different
  bytes at any moment; once each has cleaned, every replica holds the latest value of each key,
  at the offset the leader gave it (Kafka's topic configs, cleanup.policy; replication copies
  the leader's batches, offsets included). Each replica's log is read with Fetch replica_id -2.

  Scenario: with replication factor 3 every replica compacts to the same keys and values
    Given a cluster of 3 brokers configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "profiles" with 1 partition and replication factor 3 and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
    When records with the keys and values "k1=a1,k2=b1,k1=a2,k3=c1,k2=b2,k1=a3" are produced to partition 0 of "profiles"
    And records with the keys and values "k4=d1" are produced to partition 0 of "profiles"
    Then within 15000 ms every replica of partition 0 of "profiles" holds the same latest value for each key
