@replication @real-client @process
Feature: Records acknowledged with acks=all survive the loss of their leader
  With acks=all the leader acknowledges a record once every replica in the ISR has it, and
  min.insync.replicas sets how small the ISR may be for that to count: "When a producer sets
  acks to "all" (or "-1"), min.insync.replicas specifies the minimum number of replicas that
  must acknowledge a write for the write to be considered successful" (Kafka's topic configs).
  When the leader dies mid-stream, the controller elects a new leader from the ISR, which has
  every acknowledged record. Without idempotence a send whose answer was lost in the crash is
  retried and may be appended twice, so the guarantee is at least once, and in order with one
  request in flight.

  Scenario: records acknowledged before and after the leader dies are all read, in order
    Given a cluster of 3 brokers configured with:
      | broker.session.timeout.ms | 1500 |
    And a topic "payments" with 1 partition and replication factor 3 and the configs:
      | min.insync.replicas | 2 |
    And a producer configured with:
      | acks                                  | all   |
      | enable.idempotence                    | false |
      | max.in.flight.requests.per.connection | 1     |
      | batch.num.messages                    | 10    |
      | linger.ms                             | 0     |
      | message.timeout.ms                    | 15000 |
    When 300 records are produced to partition 0 of "payments" while the leader is killed after 100 acknowledgements
    Then within 5000 ms partition 0 of "payments" has a new leader
    And the new leader of partition 0 of "payments" was in the ISR before the old leader died
    When a consumer reads partition 0 of "payments" from the beginning
    Then every acknowledged record is read at least once
    And the records are read in the order they were acknowledged
