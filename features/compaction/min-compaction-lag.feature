@compaction @kip-58 @wire
Feature: min.compaction.lag.ms keeps records uncompacted while they are young
  The log cleaner does not compact a segment until its records are at least
  min.compaction.lag.ms old, so a consumer has at least that long to read every value a key had
  (KIP-58; Kafka's topic configs, min.compaction.lag.ms: "the minimum time a message will remain
  uncompacted in the log").

  Scenario: records younger than min.compaction.lag.ms are not compacted
    Given the brokers are configured with:
      | log.cleaner.backoff.ms | 200 |
    And a topic "audit" with 1 partition and the configs:
      | cleanup.policy            | compact |
      | segment.bytes             | 14      |
      | min.cleanable.dirty.ratio | 0.01    |
      | min.compaction.lag.ms     | 60000   |
    When records with the keys and values "k1=a1,k1=a2,k1=a3" are produced to partition 0 of "audit"
    And records with the keys and values "k2=b1" are produced to partition 0 of "audit"
    Then partition 0 of "audit" keeps every acknowledged record for 2000 ms
