@kip-98 @transactions @wire
Feature: an idle transactional id expires
  Kafka forgets a transactional id whose last transaction ended more than
  `transactional.id.expiration.ms` ago (7 days by default), looking for such ids every
  `transaction.remove.expired.transaction.cleanup.interval.ms` (an hour): its coordinator writes a
  tombstone to `__transaction_state` and answers TRANSACTIONAL_ID_NOT_FOUND for it from then on.
  An id whose transaction is in progress never expires, however old its last update.

  Background:
    Given the brokers are configured with:
      | transactional.id.expiration.ms                             | 1000 |
      | transaction.remove.expired.transaction.cleanup.interval.ms | 100  |
    And a topic "t" with 1 partition
    And a transactional producer "w" on the wire client

  Scenario: an idle transactional id is forgotten, and one with a transaction in progress is not
    When "w" adds partition 0 of "t" to its transaction
    And "w" sends a transactional batch of 2 records to partition 0 of "t"
    Then DescribeTransactions shows "w" Ongoing with partition 0 of "t" for 2000 ms
    When "w" commits its transaction
    Then the request succeeds
    And within 5000 ms DescribeTransactions answers TRANSACTIONAL_ID_NOT_FOUND for "w"
