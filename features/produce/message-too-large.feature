@wire
Feature: A batch larger than max.message.bytes is refused
  A record batch larger than the topic's max.message.bytes is refused with MESSAGE_TOO_LARGE
  and not appended (Kafka's `LogValidator`; topic config max.message.bytes, default 1048588).
  Nothing else in the partition is affected.

  Scenario: a record over max.message.bytes fails with MESSAGE_TOO_LARGE
    Given a topic "small" with 1 partition and the configs:
      | max.message.bytes | 2048 |
    When 5 batches of 10 records are produced to partition 0 of "small" by the wire client
    And a record of 4096 bytes is produced to partition 0 of "small" by the wire client
    Then the request fails with MESSAGE_TOO_LARGE

  Scenario: a refused batch loses nothing else
    Given a topic "small" with 1 partition and the configs:
      | max.message.bytes | 2048 |
    When 5 batches of 10 records are produced to partition 0 of "small" by the wire client
    And a record of 4096 bytes is produced to partition 0 of "small" by the wire client
    And 5 batches of 10 records are produced to partition 0 of "small" by the wire client
    And a consumer reads partition 0 of "small" from the beginning
    Then the request fails with MESSAGE_TOO_LARGE
    And every acknowledged record is read exactly once
    And partition 0 of "small" ends at offset 100

  Scenario: a record under max.message.bytes is accepted
    Given a topic "small" with 1 partition and the configs:
      | max.message.bytes | 2048 |
    When a record of 1500 bytes is produced to partition 0 of "small" by the wire client
    Then the request succeeds

  # Kafka compares the whole batch, its 12-byte offset and length prefix included
  # (`RecordBatch.sizeInBytes`), with max.message.bytes, and refuses it only when larger. One
  # uncompressed record of a <value>-byte value with no key or headers is a batch of
  # <value> + 70 bytes: the 61-byte batch header, 9 bytes of record framing.
  Scenario Outline: a batch of <batch> bytes under max.message.bytes=2048 <answer>
    Given a topic "small" with 1 partition and the configs:
      | max.message.bytes | 2048 |
    When a record of <value> bytes is produced to partition 0 of "small" by the wire client
    Then the request <answer>

    Examples:
      | batch | value | answer                          |
      | 2047  | 1977  | succeeds                        |
      | 2048  | 1978  | succeeds                        |
      | 2049  | 1979  | fails with MESSAGE_TOO_LARGE    |
