@soak @replication @real-client @idempotence @process @fault
Feature: A seeded soak loses, duplicates and reorders nothing
  Idempotent producers with acks=all (KIP-98) send for a while, from several producers, in every
  codec and batch shape the seed draws, to explicit partitions and by key, while brokers are
  killed, paused, cut off from each other and slowed, one fault at a time, each healed before the
  next. Then every partition is read back from its leader and the history judged: every
  acknowledged record is there exactly once, at one offset, in the order its producer's
  acknowledgements give. The seed fixes the workload and the fault schedule, which the scenario
  prints before it runs; `kafka-conformance certify --soak DURATION --seed N` runs a longer one
  on any target.

  Scenario: seed 20261207, twenty seconds of kills, pauses, isolation, latency and leader kills
    Given a cluster of 3 brokers
    And a topic "soak" with 3 partitions and replication factor 3, or as many as there are brokers
    When a workload drawn from seed 20261207 runs on "soak" for 20 seconds with the faults "kill, pause, isolate, latency, leader"
    Then every acknowledged record of "soak" is read exactly once, in the order it was acknowledged
