@kip-98 @transactions @real-client
Feature: read_committed consumers read committed transactions only
  A transactional producer (`transactional.id`) writes records that count only once its
  transaction commits (KIP-98). A consumer with `isolation.level=read_committed` reads up to the
  partition's last stable offset, which never passes the first record of a transaction still
  open, and it drops the records of aborted transactions, which the broker names in every fetch
  (`aborted_transactions`) and marks with an abort marker. A consumer with
  `isolation.level=read_uncommitted` (Kafka's default) reads everything, aborted records
  included.

  Background:
    Given a topic "t" with 2 partitions
    And a transactional producer "tx"

  Scenario: read_committed reads every committed transaction and no record of an aborted one
    Given a consumer configured with:
      | isolation.level | read_committed |
    When "tx" commits a transaction of 6 records to partitions "0,1" of "t"
    And "tx" aborts a transaction of 6 records to partitions "0,1" of "t"
    And "tx" commits a transaction of 6 records to partitions "0,1" of "t"
    And a consumer reads partition 0 of "t" from the beginning
    And a consumer reads partition 1 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And the records are read in the order they were acknowledged
    And no record of an aborted transaction is read

  Scenario: read_uncommitted reads the records of aborted transactions too
    Given a consumer configured with:
      | isolation.level | read_uncommitted |
    When "tx" aborts a transaction of 6 records to partitions "0,1" of "t"
    And "tx" commits a transaction of 6 records to partitions "0,1" of "t"
    And a consumer reads partition 0 of "t" from the beginning
    And a consumer reads partition 1 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And every record of an aborted transaction is read

  Scenario: records after an open transaction's first record are not read until it commits
    Given a consumer configured with:
      | isolation.level | read_committed |
    When "tx" sends 5 records to partition 0 of "t" in a transaction it leaves open
    And 5 records are produced to partition 0 of "t"
    And a consumer reads partition 0 of "t" from the beginning
    Then the consumer read no record
    When the transaction of "tx" commits
    And a consumer reads partition 0 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And no record is read before its transaction committed
