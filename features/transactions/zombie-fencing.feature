@kip-98 @transactions @real-client
Feature: a new producer instance fences the old one
  Producers that share a `transactional.id` are one producer across restarts: each new instance
  calls `init_transactions` (InitProducerId), which bumps the id's producer epoch and aborts the
  transaction the old instance left open (KIP-98's zombie fencing). The old instance can no
  longer commit: its requests carry the older epoch and are refused (PRODUCER_FENCED), so a
  transaction is committed by one instance only, and a read_committed consumer never reads
  the records the old instance wrote in its open transaction.

  Background:
    Given a topic "t" with 1 partition
    And a consumer configured with:
      | isolation.level | read_committed |
    And a transactional producer "tx"

  Scenario: the old instance's open transaction is aborted and it cannot commit
    When "tx" sends 5 records to partition 0 of "t" in a transaction it leaves open
    And a transactional producer "tx-2" starts with the transactional.id of "tx"
    And "tx-2" commits a transaction of 5 records to partitions "0" of "t"
    Then the transaction of "tx" cannot commit
    When a consumer reads partition 0 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And no record of an aborted transaction is read
