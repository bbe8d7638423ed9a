@wire
Feature: A batch that fails its CRC is refused
  Every record batch carries a CRC-32C of its attributes and records; a batch whose CRC does
  not match is refused with CORRUPT_MESSAGE and nothing of it is appended (Kafka's
  `DefaultRecordBatch.ensureValid`, called by `LogValidator`).

  Scenario: a batch with a corrupted CRC fails with CORRUPT_MESSAGE and appends nothing
    Given a topic "crc" with 1 partition
    When 5 batches of 10 records are produced to partition 0 of "crc" by the wire client
    And a batch with a corrupted CRC is produced to partition 0 of "crc" by the wire client
    Then the request fails with CORRUPT_MESSAGE
    And partition 0 of "crc" ends at offset 50

  # Here the damage is a byte of the base timestamp, which the CRC covers and decompressing
  # cannot see: a broker must not count on the codec to notice a bad batch.
  Scenario Outline: a <codec> batch with a corrupted CRC fails with CORRUPT_MESSAGE and appends nothing
    Given a topic "crc" with 1 partition
    When 5 batches of 10 records are produced to partition 0 of "crc" by the wire client
    And a <codec> batch with a corrupted CRC is produced to partition 0 of "crc" by the wire client
    Then the request fails with CORRUPT_MESSAGE
    And partition 0 of "crc" ends at offset 50

    Examples:
      | codec  |
      | none   |
      | gzip   |
      | snappy |
      | lz4    |
      | zstd   |
