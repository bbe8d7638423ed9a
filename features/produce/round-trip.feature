@real-client
Feature: A record is read back as it was produced
  The broker stores what the client sent: keys, values (null included), headers, and the batch's
  compression, and assigns each acknowledged record one offset (Kafka's documentation, "Messages"
  and "Record Batch"; the broker does not recompress when compression.type=producer).

  Scenario: every acknowledged record is read exactly once
    Given a topic "events" with 1 partition
    And a producer configured with:
      | acks | all |
    When 200 records are produced to partition 0 of "events"
    And a consumer reads partition 0 of "events" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

  Scenario: keys, headers and null values round-trip unchanged
    Given a topic "events" with 1 partition
    When 40 records with keys, headers and null values are produced to partition 0 of "events"
    And a consumer reads partition 0 of "events" from the beginning
    Then every record is read with the key, value and headers it was sent with

  Scenario Outline: a batch compressed with <codec> round-trips
    Given a topic "events" with 1 partition
    And a producer configured with:
      | compression.type | <codec> |
      | linger.ms        | 5       |
    When 100 records with keys, headers and null values are produced to partition 0 of "events"
    And a consumer reads partition 0 of "events" from the beginning
    Then every record is read with the key, value and headers it was sent with

    Examples:
      | codec  |
      | gzip   |
      | snappy |
      | lz4    |
      | zstd   |
