@kip-98 @transactions @real-client @process @fault @files
Feature: a broker rebuilds its aborted-transaction index after losing it
  Kafka keeps, beside each log segment, an index of the transactions aborted by a marker in it
  (`.txnindex`, `TransactionIndex`), and answers a read_committed fetch's `aborted_transactions`
  from it. After an unclean shutdown the broker recovers its segments and rebuilds these
  indexes from the log (`LogLoader`, `ProducerStateManager`). A broker that trusted a missing
  index would tell consumers of no aborted transaction at all, and they would read aborted
  records as if committed. The harness damages files only of brokers it starts itself.

  Scenario: read_committed drops an aborted transaction's records after its index was lost
    Given a topic "t" with 1 partition
    And a transactional producer "tx"
    And a consumer configured with:
      | isolation.level | read_committed |
    When "tx" commits a transaction of 4 records to partitions "0" of "t"
    And "tx" aborts a transaction of 4 records to partitions "0" of "t"
    And "tx" commits a transaction of 4 records to partitions "0" of "t"
    And broker 1 is killed
    And the aborted-transaction indexes of partition 0 of "t" are deleted on broker 1
    And broker 1 is started again
    And a consumer reads partition 0 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And no record of an aborted transaction is read
