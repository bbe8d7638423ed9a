@kip-890 @transactions @wire
Feature: transaction version 2 moves the producer to a new epoch with every decision
  With transaction version 2 (KIP-890 part 2, the `transaction.version` feature finalized at 2,
  as on a new Kafka 4 cluster) a producer adds no partition itself: the partition's leader adds
  it to the transaction when the first transactional batch arrives (Produce v12). Each commit or
  abort bumps the producer's epoch, and EndTxn v5 answers the epoch to go on with. A request of
  an earlier transaction that arrives late carries the old epoch and is refused, so it can never
  land in the transaction open now (KAFKA-17754, which transaction version 1 cannot prevent).
  A retried EndTxn carries the epoch before the bump and is answered as the decision it repeats
  (`TransactionCoordinator.endTransaction`).

  Background:
    Given a topic "t" with 2 partitions
    And a transactional producer "w" on the wire client with transaction version 2

  Scenario: a late batch of a committed transaction cannot join the next one
    When "w" sends a transactional batch of 3 records to partition 0 of "t"
    Then the request succeeds
    When "w" commits its transaction
    Then the request succeeds
    And EndTxn moved "w" to the next epoch of its producer id
    When "w" sends a transactional batch of 2 records to partition 0 of "t"
    Then the request succeeds
    When "w" sends a late transactional batch of 1 records from its previous transaction to partition 1 of "t"
    Then the request fails with INVALID_PRODUCER_EPOCH
    When "w" commits its transaction
    Then the request succeeds
    And EndTxn moved "w" to the next epoch of its producer id

  Scenario: a retried EndTxn is answered with where the producer is now
    When "w" sends a transactional batch of 3 records to partition 0 of "t"
    And "w" sends a transactional batch of 3 records to partition 1 of "t"
    And "w" aborts its transaction
    Then the request succeeds
    And EndTxn moved "w" to the next epoch of its producer id
    When "w" sends its last EndTxn again
    Then the request succeeds
    And EndTxn named "w"'s current producer id and epoch
    When "w" commits its transaction
    Then the request fails with INVALID_TXN_STATE

  Scenario: read_committed reads version 2 transactions that a leader added itself
    Given a consumer configured with:
      | isolation.level | read_committed |
    When "w" sends a transactional batch of 4 records to partition 0 of "t"
    And "w" sends a transactional batch of 4 records to partition 1 of "t"
    And "w" commits its transaction
    And "w" sends a transactional batch of 4 records to partition 0 of "t"
    And "w" aborts its transaction
    And "w" sends a transactional batch of 4 records to partition 1 of "t"
    And "w" commits its transaction
    And a consumer reads partition 0 of "t" from the beginning
    And a consumer reads partition 1 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And no record of an aborted transaction is read

  Scenario: offsets committed in a version 2 transaction need no AddOffsetsToTxn and count once it commits
    When "w" sends a transactional batch of 2 records to partition 0 of "t"
    And "w" commits offset 5 of partition 1 of "t" for group "g" in its transaction
    Then the request succeeds
    When "w" commits its transaction
    Then the request succeeds
    And within 5000 ms the committed offset of partition 1 of "t" for group "g" is 5 with metadata ""
    When "w" commits offset 7 of partition 1 of "t" for group "g" in its transaction
    Then the request succeeds
    When "w" aborts its transaction
    Then the request succeeds
    And the committed offset of partition 1 of "t" for group "g" is 5
