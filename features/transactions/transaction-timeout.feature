@kip-98 @transactions @wire
Feature: a transaction open past its timeout is aborted, and its producer fenced
  A producer names its transaction timeout in InitProducerId (`transaction.timeout.ms`). The
  coordinator checks every `transaction.abort.timed.out.transaction.cleanup.interval.ms` for
  transactions open longer than that, bumps the producer's epoch and aborts them
  (`TransactionCoordinator.abortTimedOutTransactions`): the last stable offset moves on, so
  read_committed consumers are not held back by a producer that went away, and the producer,
  should it come back, is fenced.

  Scenario: a transaction past its timeout is aborted, read_committed reads on, and its producer is fenced
    Given the brokers are configured with:
      | transaction.abort.timed.out.transaction.cleanup.interval.ms | 500 |
    And a topic "t" with 1 partition
    And a consumer configured with:
      | isolation.level | read_committed |
    When a transactional producer "w" on the wire client asks for a transaction timeout of 1000 ms
    Then the request succeeds
    When "w" adds partition 0 of "t" to its transaction
    And "w" sends a transactional batch of 3 records to partition 0 of "t"
    And 4 records are produced to partition 0 of "t"
    Then within 10000 ms DescribeTransactions shows "w" CompleteAbort with no partition
    When a consumer reads partition 0 of "t" from the beginning
    Then every acknowledged record is read exactly once
    When "w" commits its transaction
    Then the request fails with PRODUCER_FENCED
