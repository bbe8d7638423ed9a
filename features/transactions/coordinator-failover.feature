@kip-98 @transactions @real-client @process @fault @replication
Feature: a transaction coordinator's decisions outlive it
  A transaction coordinator answers EndTxn once its decision (PrepareCommit or PrepareAbort) is
  replicated in `__transaction_state`, and writes the commit or abort markers afterwards. If it
  dies in between, the broker that takes over its partition of `__transaction_state` loads the
  decision and writes the markers itself (Kafka's `TransactionStateManager`, KIP-98): every
  partition of a committed transaction shows all of its records to read_committed consumers, of
  an aborted one none, and the producer goes on with its next transaction at the new
  coordinator.

  Background:
    Given a cluster of 3 brokers
    And a topic "t" with 2 partitions and replication factor 3
    And a consumer configured with:
      | isolation.level | read_committed |
    And a transactional producer "tx"

  Scenario: transactions decided just before their coordinator is killed are completed by the next one
    When "tx" commits a transaction of 6 records to partitions "0,1" of "t"
    And "tx" aborts a transaction of 6 records to partitions "0,1" of "t"
    And the transaction coordinator of "tx" is killed
    And "tx" commits a transaction of 6 records to partitions "0,1" of "t"
    And a consumer reads partition 0 of "t" from the beginning
    And a consumer reads partition 1 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And no record of an aborted transaction is read
