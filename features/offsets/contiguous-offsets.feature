@real-client
Feature: Offsets of a partition are contiguous
  Without compaction or transactions, every record appended to a partition takes the next
  offset: the first record is at offset 0 and there are no gaps (Kafka's documentation,
  "Offsets"; gaps come only from compaction and transaction markers).

  Scenario: offsets of a partition are contiguous from 0
    Given a topic "ledger" with 1 partition
    And a producer configured with:
      | acks | all |
    When 300 records are produced to partition 0 of "ledger"
    Then every send is acknowledged
    And the acknowledged offsets of partition 0 of "ledger" are contiguous from 0
    And the log end offset of partition 0 of "ledger" is 300

  Scenario: each partition numbers its records on its own
    Given a topic "ledger" with 3 partitions
    When 50 records are produced to partition 0 of "ledger"
    And 70 records are produced to partition 2 of "ledger"
    Then the acknowledged offsets of partition 0 of "ledger" are contiguous from 0
    And the acknowledged offsets of partition 2 of "ledger" are contiguous from 0
    And the log end offset of partition 1 of "ledger" is 0
    And the log end offset of partition 2 of "ledger" is 70
