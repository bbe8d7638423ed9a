@idempotence @kip-98
Feature: A batch an idempotent producer sends again is appended once
  A producer that gets no answer cannot tell a lost request from a lost answer, so it sends the
  batch again. With enable.idempotence the broker recognises the copy: every batch carries the
  producer id, its epoch and the sequence number of its first record, and for each producer and
  partition the broker keeps the metadata of the last 5 batches it appended. A batch whose
  sequence range matches one of them is a duplicate: nothing is appended and the answer is the
  original one, error NONE with the original base offset (KIP-98; Kafka's
  `ProducerStateEntry.findDuplicateBatch`). That window is why Kafka producers keep at most 5
  requests in flight with idempotence. Without idempotence the same retry appends the batch
  again, which the history shows as a `duplicate`.

  @wire
  Scenario Outline: the batch with sequence <sequence> of 5 pipelined batches is acknowledged again with its original offset
    Given a topic "payments" with 1 partition
    And an idempotent producer on the wire client
    When 5 batches of 10 records with sequences from 0 are pipelined to partition 0 of "payments"
    Then every send is acknowledged
    When the batch with sequence <sequence> is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "payments" holds the records in sequence order, each once
    And partition 0 of "payments" ends at offset 50

    Examples:
      | sequence |
      | 0        |
      | 10       |
      | 40       |

  @wire
  Scenario: with idempotence a batch sent again after its answer was lost is acknowledged with its original offset
    Given a topic "payments" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 10 records is sent to partition 0 of "payments"
    And a batch of 10 records is sent to partition 0 of "payments" and its answer is lost
    And the batch with sequence 10 is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "payments" holds the records in sequence order, each once

  @wire @real-client
  Scenario: without idempotence a batch sent again after its answer was lost is appended twice
    Given a topic "payments" with 1 partition
    And a producer without idempotence on the wire client
    When a batch of 10 records is sent to partition 0 of "payments" and its answer is lost
    And batch 1 is sent again
    Then batch 1 is acknowledged
    When a consumer reads partition 0 of "payments" from the beginning
    Then the checker finds duplicate

  @real-client @fault
  Scenario: without idempotence and one request in flight, lost answers duplicate records but keep their order
    Given a topic "net" with 1 partition
    And a producer configured with:
      | enable.idempotence                    | false |
      | acks                                  | all   |
      | max.in.flight.requests.per.connection | 1     |
      | batch.num.messages                    | 5     |
      | linger.ms                             | 5     |
      | retries                               | 5     |
      | socket.timeout.ms                     | 400   |
      | retry.backoff.ms                      | 50    |
    When 50 records are produced to partition 0 of "net" while the broker's answers are lost for 3000 ms
    And a consumer reads partition 0 of "net" from the beginning
    Then every acknowledged record is read at least once
    And the records are read in the order they were acknowledged
    And the checker finds duplicate
