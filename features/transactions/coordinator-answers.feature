@kip-98 @transactions @wire
Feature: the transaction coordinator answers as Kafka's does
  The transaction coordinator checks every request against the transactional id's state and
  the producer's id and epoch, with Kafka's error codes (`TransactionCoordinator`,
  `KafkaApis`): a transaction timeout outside (0, `transaction.max.timeout.ms`] is
  INVALID_TRANSACTION_TIMEOUT; a new instance's InitProducerId bumps the epoch and aborts the
  open transaction of the old one, whose every later request is fenced (PRODUCER_FENCED from the
  coordinator, INVALID_PRODUCER_EPOCH from a partition leader); and only a coordinator may write
  a control batch: a client's is INVALID_RECORD (`LogValidator`).

  Scenario: a transaction timeout outside (0, transaction.max.timeout.ms] is refused with INVALID_TRANSACTION_TIMEOUT
    Given the brokers are configured with:
      | transaction.max.timeout.ms | 900000 |
    When a transactional producer "w" on the wire client asks for a transaction timeout of 900001 ms
    Then the request fails with INVALID_TRANSACTION_TIMEOUT
    When a transactional producer "w" on the wire client asks for a transaction timeout of 0 ms
    Then the request fails with INVALID_TRANSACTION_TIMEOUT
    When a transactional producer "w" on the wire client asks for a transaction timeout of 900000 ms
    Then the request succeeds

  Scenario: a new instance fences the old one and aborts its open transaction
    Given a topic "t" with 2 partitions
    And a transactional producer "old" on the wire client
    When "old" adds partition 0 of "t" to its transaction
    And "old" sends a transactional batch of 3 records to partition 0 of "t"
    Then the request succeeds
    When a transactional producer "new" on the wire client starts with the transactional.id of "old"
    Then the request succeeds
    And DescribeTransactions shows "new" Empty with no partition
    When "old" commits its transaction
    Then the request fails with PRODUCER_FENCED
    When "old" adds partition 1 of "t" to its transaction
    Then the request fails with PRODUCER_FENCED
    When "old" sends a transactional batch of 2 records to partition 0 of "t"
    Then the request fails with INVALID_PRODUCER_EPOCH

  Scenario: a client's control batch is refused with INVALID_RECORD
    Given a topic "t" with 2 partitions
    And a transactional producer "w" on the wire client
    When "w" adds partition 0 of "t" to its transaction
    And "w" sends a control batch to partition 0 of "t"
    Then the request fails with INVALID_RECORD
    When "w" sends a transactional batch of 2 records to partition 0 of "t"
    And "w" commits its transaction
    Then the request succeeds
