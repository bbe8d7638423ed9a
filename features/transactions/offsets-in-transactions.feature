@kip-98 @kip-447 @transactions @real-client
Feature: offsets sent to a transaction are committed with it
  A transactional producer commits a consumer group's offsets as part of its transaction
  (`send_offsets_to_transaction`: AddOffsetsToTxn, then TxnOffsetCommit to the group
  coordinator). The group's committed offsets change when the transaction commits, and not at
  all when it aborts: a consume-transform-produce application that crashes and restarts
  resumes exactly after the last committed transaction.

  Background:
    Given a topic "t" with 1 partition
    And a transactional producer "tx"
    And a consumer configured with:
      | auto.offset.reset | earliest |
    When 10 records are produced to partition 0 of "t"

  Scenario: a committed transaction commits the group's offsets
    When "tx" commits a transaction that commits offset 7 of partition 0 of "t" for group "g"
    And a consumer in group "g" reads partition 0 of "t" from the group's committed offset
    Then the consumer reads offsets 7 to 9

  Scenario: an aborted transaction leaves the group's offsets as they were
    When "tx" commits a transaction that commits offset 4 of partition 0 of "t" for group "g"
    And "tx" aborts a transaction that commits offset 8 of partition 0 of "t" for group "g"
    And a consumer in group "g" reads partition 0 of "t" from the group's committed offset
    Then the consumer reads offsets 4 to 9
