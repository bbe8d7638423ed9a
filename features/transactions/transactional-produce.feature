@kip-98 @transactions @wire
Feature: a transaction's writes and decisions are checked as Kafka checks them
  A transactional producer adds each partition to its transaction (AddPartitionsToTxn) before
  writing to it, writes transactional batches only while its transaction is open, and ends it
  with EndTxn. The broker holds it to that, with Kafka's error codes: a partition leader asks
  the coordinator whether a transactional batch's partition is in the transaction (KIP-890,
  `transaction.partition.verification.enable`, on by default), refuses a non-transactional
  batch from a producer whose transaction is open, and EndTxn answers by the transaction's state
  (`TransactionCoordinator.endTransaction`).

  Background:
    Given a topic "t" with 2 partitions
    And a transactional producer "w" on the wire client

  Scenario: a transactional batch for a partition the transaction never added is refused
    When "w" adds partition 0 of "t" to its transaction
    Then the request succeeds
    When "w" sends a transactional batch of 3 records to partition 0 of "t"
    Then the request succeeds
    When "w" sends a transactional batch of 3 records to partition 1 of "t"
    Then "w"'s batch is refused as outside its transaction

  Scenario: a batch outside the transaction is refused with INVALID_TXN_STATE while the transaction is open
    When "w" adds partition 0 of "t" to its transaction
    And "w" sends a transactional batch of 3 records to partition 0 of "t"
    Then the request succeeds
    When "w" sends a batch of 2 records outside its transaction to partition 0 of "t"
    Then the request fails with INVALID_TXN_STATE
    When "w" commits its transaction
    Then the request succeeds
    When "w" sends a batch of 2 records outside its transaction to partition 0 of "t"
    Then the request succeeds

  Scenario: EndTxn answers a retried commit NONE and a change of mind INVALID_TXN_STATE
    When "w" commits its transaction
    Then the request fails with INVALID_TXN_STATE
    When "w" adds partition 0 of "t" to its transaction
    And "w" sends a transactional batch of 3 records to partition 0 of "t"
    And "w" commits its transaction
    Then the request succeeds
    When "w" commits its transaction
    Then the request succeeds
    When "w" aborts its transaction
    Then the request fails with INVALID_TXN_STATE
