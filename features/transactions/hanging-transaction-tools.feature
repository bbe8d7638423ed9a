@kip-98 @kip-664 @transactions @wire
Feature: the coordinator and the partition leaders describe a transaction alike
  Kafka's tools for finding hanging transactions (KIP-664) ask two places: the transaction
  coordinator (DescribeTransactions, ListTransactions) for a transactional id's state and
  partitions, and each partition's leader (DescribeProducers) for the producers writing there
  and the first offset of each one's open transaction, which holds the last stable offset back.
  They must agree while the transaction is open, and both must show it gone once it is decided.
  A transaction left hanging on a partition is ended there with the tool's abort
  (`kafka-transactions.sh abort`: WriteTxnMarkers to the leader with the producer id, epoch and
  coordinator epoch DescribeProducers shows), after which read_committed consumers read on.

  Background:
    Given a topic "t" with 1 partition
    And a transactional producer "w" on the wire client

  Scenario: an open transaction is described by its coordinator and by its partition's leader, then gone once committed
    When 3 records are produced to partition 0 of "t"
    And "w" adds partition 0 of "t" to its transaction
    And "w" sends a transactional batch of 2 records to partition 0 of "t"
    Then DescribeTransactions shows "w" Ongoing with partition 0 of "t"
    And ListTransactions lists "w" as Ongoing
    And DescribeProducers shows "w"'s transaction on partition 0 of "t" open from offset 3
    When "w" commits its transaction
    Then the request succeeds
    And DescribeTransactions shows "w" CompleteCommit with no partition
    And ListTransactions lists "w" as CompleteCommit
    And DescribeProducers shows no open transaction of "w" on partition 0 of "t"

  Scenario: a hanging transaction aborted with Kafka's abort tool no longer holds read_committed consumers back
    Given a consumer configured with:
      | isolation.level | read_committed |
    When "w" adds partition 0 of "t" to its transaction
    And "w" sends a transactional batch of 3 records to partition 0 of "t"
    And 4 records are produced to partition 0 of "t"
    And the open transaction on partition 0 of "t" is aborted with Kafka's abort tool
    Then the request succeeds
    And DescribeProducers shows no open transaction of "w" on partition 0 of "t"
    When a consumer reads partition 0 of "t" from the beginning
    Then every acknowledged record is read exactly once
    And no record of an aborted transaction is read
