@wire
Feature: max_bytes bounds a whole fetch across its partitions
  Since Fetch v3 a request carries max_bytes for the whole response beside each partition's
  partition_max_bytes (KIP-74). The broker reads the partitions in the order the request names
  them, and each gets what is left of max_bytes (ReplicaManager.readFromLog). The first batch of
  the first partition that has any is returned whole even when it is larger than both limits,
  so a consumer always makes progress; once a partition returned bytes, the limits hold for the
  rest. The broker caps max_bytes at its fetch.max.bytes (55 MiB by default), far above what
  these scenarios ask.

  Each partition holds three batches of one record of 500 bytes: 570 bytes each (the 61-byte
  batch header, 9 bytes of record framing), 1710 bytes a partition. Kafka may add the start of
  a batch cut off at the limit; clients drop it, and only whole batches count here. Each
  partition asks for 1 MiB, so only max_bytes binds.

  Background:
    Given a topic "shared" with 3 partitions
    When 3 records of 500 bytes are produced to partition 0 of "shared" by the wire client, one batch each
    And 3 records of 500 bytes are produced to partition 1 of "shared" by the wire client, one batch each
    And 3 records of 500 bytes are produced to partition 2 of "shared" by the wire client, one batch each

  # 2280 bytes: partition 0's 1710, then 570 left for partition 1.
  Scenario Outline: max_bytes <max> is shared by the partitions in the order the request names them
    When partitions "0,1,2" of "shared" are fetched from offsets "0,0,0" with max_bytes <max>
    Then the fetch returns 3 whole batches of partition 0
    And the fetch returns <second> whole batches of partition 1
    And the fetch returns 0 whole batches of partition 2

    Examples:
      | max  | second |
      | 2279 | 0      |
      | 2280 | 1      |
      | 2281 | 1      |
      | 3420 | 3      |

  Scenario: partitions are read in the request's order, not by their index
    When partitions "2,0,1" of "shared" are fetched from offsets "0,0,0" with max_bytes 2280
    Then the fetch returns 3 whole batches of partition 2
    And the fetch returns 1 whole batch of partition 0
    And the fetch returns 0 whole batches of partition 1

  # Partition 0 has nothing from offset 3, so partition 1 is the first with records.
  Scenario: the first batch of the first partition with records is returned whole, even when max_bytes is smaller
    When partitions "0,1,2" of "shared" are fetched from offsets "3,0,0" with max_bytes 100
    Then the fetch returns 0 whole batches of partition 0
    And the fetch returns 1 whole batch of partition 1
    And the fetch returns 0 whole batches of partition 2

  Scenario: max_bytes 0 still returns the first batch, and nothing more
    When partitions "0,1,2" of "shared" are fetched from offsets "0,0,0" with max_bytes 0
    Then the fetch returns 1 whole batch of partition 0
    And the fetch returns 0 whole batches of partition 1
    And the fetch returns 0 whole batches of partition 2
