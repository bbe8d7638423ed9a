@wire
Feature: Each partition of a produce request succeeds or fails on its own
  A Produce request may carry batches for several partitions. Kafka appends each partition's
  batch on its own and answers each partition with its own error code and base offset
  (KafkaApis.handleProduceRequest answers a partition it does not know UNKNOWN_TOPIC_OR_PARTITION
  and hands the rest to ReplicaManager.appendRecords, which appends partition by partition). A
  refusal of one partition's batch, whatever its cause, neither stops nor undoes the others.
  Each request here is acks=all and names the refused partition between two good ones.

  Scenario: a partition that does not exist is refused and the partitions after it are appended
    Given a topic "mixed" with 2 partitions
    When one produce request carries a batch of 5 records for each of partitions "0,7,1" of "mixed"
    Then the answer for partition 0 is NONE
    And the answer for partition 7 is UNKNOWN_TOPIC_OR_PARTITION
    And the answer for partition 1 is NONE
    And partition 0 of "mixed" ends at offset 5
    And partition 1 of "mixed" ends at offset 5

  Scenario: a corrupt batch fails its own partition only
    Given a topic "mixed" with 3 partitions
    When one produce request carries a batch of 5 records for each of partitions "0,1,2" of "mixed", the one for partition 1 with a corrupted CRC
    Then the answer for partition 0 is NONE
    And the answer for partition 1 is CORRUPT_MESSAGE
    And the answer for partition 2 is NONE
    And partition 0 of "mixed" ends at offset 5
    And partition 1 of "mixed" ends at offset 0
    And partition 2 of "mixed" ends at offset 5
