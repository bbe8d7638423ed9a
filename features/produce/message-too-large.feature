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
