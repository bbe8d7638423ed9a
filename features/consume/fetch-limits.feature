@wire
Feature: A fetch is bounded by its byte limits and waits for data
  A fetch returns whole batches. partition_max_bytes and max_bytes bound what it returns, except
  that the first batch is returned whole even when it is larger, so a consumer always makes
  progress (KIP-74). With max_wait_ms and min_bytes, a fetch waits for records to arrive
  (Kafka's DelayedFetch); max_wait_ms stays below the target's request timeout, as clients
  require of fetch.max.wait.ms and request.timeout.ms.

  Background:
    Given a topic "wide" with 1 partition
    When 10 batches of 20 records are produced to partition 0 of "wide" by the wire client

  # Each batch of 20 records is about 560 bytes; all ten are about 5600. Returning fewer batches
  # than fit is allowed: the limit is an upper bound.
  Scenario: partition_max_bytes bounds a fetch after the first batch
    When partition 0 of "wide" is fetched from offset 0 with partition_max_bytes 1400
    Then the fetch returns at most 1400 bytes

  Scenario: the first batch is returned whole when it is larger than partition_max_bytes
    When partition 0 of "wide" is fetched from offset 0 with partition_max_bytes 10
    Then the fetch returns 1 whole batch

  Scenario: a fetch from the middle of a batch returns that whole batch
    When partition 0 of "wide" is fetched from offset 30 with partition_max_bytes 10
    Then the fetch returns 1 whole batch
    And the fetch returns 20 records

  Scenario: a waiting fetch returns records that arrive while it waits
    When a fetch of partition 0 of "wide" from offset 200 waits up to 3000 ms for 1 byte while 3 records are produced
    Then the fetch returns 3 records

  # One uncompressed record of a 500-byte value is a batch of 570 bytes (the 61-byte header, 9
  # bytes of record framing), so two batches are 1140 bytes: partition_max_bytes admits a batch
  # that ends exactly at the limit. Kafka may add the start of the next batch, cut off; clients
  # drop it, and only whole batches count here.
  Scenario Outline: a fetch with partition_max_bytes <max> returns <count> of three 570-byte batches
    Given a topic "narrow" with 1 partition
    When a record of 500 bytes is produced to partition 0 of "narrow" by the wire client
    And a record of 500 bytes is produced to partition 0 of "narrow" by the wire client
    And a record of 500 bytes is produced to partition 0 of "narrow" by the wire client
    And partition 0 of "narrow" is fetched from offset 0 with partition_max_bytes <max>
    Then the fetch returns <count> whole batches

    Examples:
      | max  | count |
      | 1139 | 1     |
      | 1140 | 2     |
      | 1141 | 2     |
      | 1710 | 3     |

  # A waiting fetch completes once the bytes available from its offset reach min_bytes
  # (DelayedFetch: accumulatedSize >= fetchMinBytes), else when max_wait_ms runs out, with what
  # there is. Two 570-byte batches are 1140 bytes. max_wait_ms is 3000 here: far longer than
  # producing two batches takes, and below the request timeout.
  Scenario Outline: a fetch waiting for <min> bytes while two 570-byte batches arrive is <answered>
    When a fetch of partition 0 of "wide" from offset 200 waits up to 3000 ms for <min> bytes while 2 records of 500 bytes are produced, one batch each
    Then the fetch was <answered>
    And the fetch returns 2 whole batches

    Examples:
      | min  | answered                                |
      | 1139 | answered before its max_wait_ms ran out |
      | 1140 | answered before its max_wait_ms ran out |
      | 1141 | held until its max_wait_ms ran out      |
