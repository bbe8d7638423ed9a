@wire
Feature: A topic's compression.type decides how its batches are stored
  A topic's `compression.type` (broker default `compression.type`, itself `producer` by default)
  is `uncompressed`, `gzip`, `snappy`, `lz4`, `zstd` or `producer`. With `producer` the broker
  keeps each batch as the producer compressed it; with a codec, a batch that arrives in another
  codec is rebuilt in the topic's (`LogValidator.validateMessagesAndAssignOffsetsCompressed`,
  `buildRecordsAndAssignOffsets`): same records, same offsets, same producer id, epoch and
  sequence, a new CRC. The rebuilt batch must still fit `max.message.bytes` (`UnifiedLog.append`
  checks it again, MESSAGE_TOO_LARGE). KIP-390 (Kafka 3.8) adds the level the broker compresses
  with: `compression.gzip.level` (1 to 9, or -1 for the codec's default), `compression.lz4.level`
  (1 to 17, default 9) and `compression.zstd.level` (-131072 to 22, default 3).

  Scenario Outline: a batch sent as <source> is stored as <stored> on a topic with compression.type=<target>
    Given a topic "packed" with 1 partition and the configs:
      | compression.type | <target> |
    When a batch of 20 records compressed with <source> is produced to partition 0 of "packed" by the wire client
    And 2 batches of 5 records are produced to partition 0 of "packed" by the wire client
    Then every batch of partition 0 of "packed" is stored compressed with <stored>, with a valid CRC
    And the acknowledged offsets of partition 0 of "packed" are contiguous from 0
    And partition 0 of "packed" holds every acknowledged record at its offset, with its key, value and headers

    Examples:
      | source       | target       | stored |
      | gzip         | zstd         | zstd   |
      | zstd         | gzip         | gzip   |
      | uncompressed | lz4          | lz4    |
      | lz4          | snappy       | snappy |
      | snappy       | uncompressed | none   |

  Scenario: a batch keeps the producer's codec with compression.type=producer
    Given a topic "packed" with 1 partition and the configs:
      | compression.type | producer |
    When a batch of 20 records compressed with lz4 is produced to partition 0 of "packed" by the wire client
    Then every batch of partition 0 of "packed" is stored compressed with lz4, with a valid CRC

  @real-client
  Scenario: librdkafka reads a batch the broker recompressed
    Given a topic "packed" with 1 partition and the configs:
      | compression.type | zstd |
    And a producer configured with:
      | compression.type | gzip |
      | linger.ms        | 5    |
    When 100 records with keys, headers and null values are produced to partition 0 of "packed"
    And a consumer reads partition 0 of "packed" from the beginning
    Then every record is read with the key, value and headers it was sent with
    And every acknowledged record is read exactly once

  Scenario: a broker-wide compression.type applies to topics without their own
    Given the brokers are configured with:
      | compression.type | gzip |
    And a topic "packed" with 1 partition
    When a batch of 20 records compressed with none is produced to partition 0 of "packed" by the wire client
    Then every batch of partition 0 of "packed" is stored compressed with gzip, with a valid CRC

  Scenario: a batch that grows past max.message.bytes when stored uncompressed is refused with MESSAGE_TOO_LARGE
    Given a topic "packed" with 1 partition and the configs:
      | compression.type  | uncompressed |
      | max.message.bytes | 2048         |
    When a batch of 20 records of 500 bytes compressed with gzip is produced to partition 0 of "packed" by the wire client
    Then the request fails with MESSAGE_TOO_LARGE
    And partition 0 of "packed" ends at offset 0

  @idempotence @kip-98
  Scenario: a recompressed idempotent batch sent again is answered with its original offset
    Given a topic "packed" with 1 partition and the configs:
      | compression.type | zstd |
    And an idempotent producer on the wire client
    When a batch of 5 records is sent to partition 0 of "packed"
    And a batch of 5 records is sent to partition 0 of "packed"
    And batch 1 is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "packed" holds the records in sequence order, each once

  @kip-390 @since-kafka-3.8
  Scenario Outline: <config>=<value> is accepted and reported
    Given a topic "leveled" with 1 partition and the configs:
      | <config> | <value> |
    Then DescribeConfigs for topic "leveled" reports "<config>" = "<value>" from DYNAMIC_TOPIC_CONFIG

    Examples:
      | config                 | value   |
      | compression.type       | zstd    |
      | compression.gzip.level | 9       |
      | compression.lz4.level  | 17      |
      | compression.zstd.level | -131072 |
      | compression.zstd.level | 22      |

  @kip-390 @since-kafka-3.8
  Scenario Outline: <config>=<value> is refused with INVALID_CONFIG
    When a topic "leveled" is created with "<config>" set to "<value>"
    Then the request fails with INVALID_CONFIG

    Examples:
      | config                 | value   |
      | compression.type       | brotli  |
      | compression.gzip.level | 0       |
      | compression.gzip.level | 10      |
      | compression.lz4.level  | 18      |
      | compression.zstd.level | 23      |
      | compression.zstd.level | -131073 |

  @kip-390 @since-kafka-3.8
  Scenario Outline: a batch compressed at <config>=<value> reads back unchanged
    Given a topic "leveled" with 1 partition and the configs:
      | compression.type | <codec> |
      | <config>         | <value> |
    When a batch of 20 records compressed with none is produced to partition 0 of "leveled" by the wire client
    Then every batch of partition 0 of "leveled" is stored compressed with <codec>, with a valid CRC
    And partition 0 of "leveled" holds every acknowledged record at its offset, with its key, value and headers

    Examples:
      | codec | config                 | value |
      | gzip  | compression.gzip.level | 1     |
      | gzip  | compression.gzip.level | 9     |
      | lz4   | compression.lz4.level  | 1     |
      | lz4   | compression.lz4.level  | 17    |
      | zstd  | compression.zstd.level | -5    |
      | zstd  | compression.zstd.level | 22    |
