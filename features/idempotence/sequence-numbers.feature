@idempotence @kip-98 @wire
Feature: An idempotent producer's batches are appended in sequence order
  Each batch carries the sequence number of its first record, counted per partition from 0 and
  wrapping to 0 after 2147483647. For a producer it knows, the broker appends a batch only if
  its first sequence follows the last sequence it appended; otherwise it appends nothing and
  answers OUT_OF_ORDER_SEQUENCE_NUMBER, and the producer sends the batch again after the ones
  before it (KIP-98; Kafka's `ProducerAppendInfo.checkSequence`). A producer the partition does
  not know (new, or its state expired) is accepted at any sequence (KIP-360).

  That is what keeps order with several requests in flight. Without idempotence a batch refused
  with a retriable error (CORRUPT_MESSAGE, when its bytes were damaged on the way) is sent again
  after the batch behind it was already appended: the log holds them in the other order. With
  idempotence the batch behind it is refused too, and the retries append both in order. The
  idempotent demonstration first makes the producer known to the partition: a producer's very
  first batch refused would leave the broker without state for it, and it would then accept
  the next batch at any sequence.

  Scenario: a batch that skips sequence numbers is refused with OUT_OF_ORDER_SEQUENCE_NUMBER and appends nothing
    Given a topic "events" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 10 records with sequence 0 is sent to partition 0 of "events"
    Then the request succeeds
    When a batch of 10 records with sequence 15 is sent to partition 0 of "events"
    Then the request fails with OUT_OF_ORDER_SEQUENCE_NUMBER
    And partition 0 of "events" ends at offset 10
    When a batch of 10 records with sequence 10 is sent to partition 0 of "events"
    Then the request succeeds
    And partition 0 of "events" holds the records in sequence order, each once

  # A duplicate is the same batch: Kafka's `findDuplicateBatch` matches the first and the last
  # sequence. A batch that only starts like an appended one is out of order.
  Scenario: a batch with an appended batch's first sequence but fewer records is refused with OUT_OF_ORDER_SEQUENCE_NUMBER
    Given a topic "events" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 10 records with sequence 0 is sent to partition 0 of "events"
    Then the request succeeds
    When a batch of 5 records with sequence 0 is sent to partition 0 of "events"
    Then the request fails with OUT_OF_ORDER_SEQUENCE_NUMBER
    And partition 0 of "events" ends at offset 10

  Scenario: a batch sent again after five later batches is refused with OUT_OF_ORDER_SEQUENCE_NUMBER
    Given a topic "events" with 1 partition
    And an idempotent producer on the wire client
    When 6 batches of 10 records with sequences from 0 are pipelined to partition 0 of "events"
    Then every send is acknowledged
    When the batch with sequence 0 is sent again
    Then the request fails with OUT_OF_ORDER_SEQUENCE_NUMBER
    And partition 0 of "events" ends at offset 60
    And partition 0 of "events" holds the records in sequence order, each once

  @kip-360
  Scenario: a producer the partition does not know is accepted at any sequence
    Given a topic "events" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 10 records with sequence 1000 is sent to partition 0 of "events"
    Then the request succeeds
    When a batch of 10 records with sequence 1010 is sent to partition 0 of "events"
    Then the request succeeds
    And partition 0 of "events" holds the records in sequence order, each once

  @kip-360
  Scenario: sequence numbers wrap to 0 after 2147483647
    Given a topic "events" with 1 partition
    And an idempotent producer on the wire client
    When 3 batches of 10 records with sequences from 2147483637 are pipelined to partition 0 of "events"
    Then every send is acknowledged
    When the batch with sequence 2147483647 is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "events" holds the records in sequence order, each once

  Scenario: without idempotence a batch retried after a CRC failure lands after the batch sent behind it
    Given a topic "orders" with 1 partition
    And a producer without idempotence on the wire client
    When 2 batches of 5 records are pipelined to partition 0 of "orders", the first corrupted in transit
    Then batch 1 is refused with CORRUPT_MESSAGE
    And batch 2 is acknowledged
    When batch 1 is sent again
    Then batch 1 is acknowledged
    And partition 0 of "orders" holds batch 2 before batch 1

  Scenario: with idempotence the batch behind a corrupted one is refused, and the retries keep the order
    Given a topic "orders" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 5 records is sent to partition 0 of "orders"
    And 2 batches of 5 records are pipelined to partition 0 of "orders", the first corrupted in transit
    Then the batch with sequence 5 is refused with CORRUPT_MESSAGE
    And the batch with sequence 10 is refused with OUT_OF_ORDER_SEQUENCE_NUMBER
    When the batch with sequence 5 is sent again
    And the batch with sequence 10 is sent again
    Then the batch with sequence 10 is acknowledged
    And partition 0 of "orders" holds the records in sequence order, each once
