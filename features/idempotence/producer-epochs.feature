@idempotence @kip-98 @kip-360 @wire
Feature: A producer's epoch fences its older batches
  A producer id comes with an epoch. An idempotent producer bumps its epoch itself when it must
  reset its sequence numbers (KIP-360: after a batch timed out or UNKNOWN_PRODUCER_ID), and
  numbers the partition's batches from 0 again. The broker then refuses batches of the older
  epoch with INVALID_PRODUCER_EPOCH, and a batch of a new epoch that does not start at sequence
  0 with OUT_OF_ORDER_SEQUENCE_NUMBER (Kafka's `ProducerAppendInfo.checkProducerEpoch` and
  `checkSequence`).

  Scenario: a batch of an older epoch is refused with INVALID_PRODUCER_EPOCH
    Given a topic "fenced" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 5 records with sequence 0 and epoch 0 is sent to partition 0 of "fenced"
    Then the request succeeds
    When a batch of 5 records with sequence 0 and epoch 1 is sent to partition 0 of "fenced"
    Then the request succeeds
    When a batch of 5 records with sequence 5 and epoch 0 is sent to partition 0 of "fenced"
    Then the request fails with INVALID_PRODUCER_EPOCH
    And partition 0 of "fenced" ends at offset 10
    And partition 0 of "fenced" holds the records in sequence order, each once

  Scenario: a new epoch that does not start at sequence 0 is refused with OUT_OF_ORDER_SEQUENCE_NUMBER
    Given a topic "fenced" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 5 records with sequence 0 and epoch 0 is sent to partition 0 of "fenced"
    Then the request succeeds
    When a batch of 5 records with sequence 5 and epoch 1 is sent to partition 0 of "fenced"
    Then the request fails with OUT_OF_ORDER_SEQUENCE_NUMBER
    And partition 0 of "fenced" ends at offset 5
    When a batch of 5 records with sequence 0 and epoch 1 is sent to partition 0 of "fenced"
    Then the request succeeds
    And partition 0 of "fenced" holds the records in sequence order, each once
