@retention @real-client @wire
Feature: A consumer positioned below the log start applies auto.offset.reset
  Once retention has deleted the oldest segments, a fetch below the new log start offset is
  answered with OFFSET_OUT_OF_RANGE, and the consumer applies auto.offset.reset: earliest moves
  it to the log start, latest to the log end, and none reports the error to the application
  (Kafka's consumer configs, auto.offset.reset; topic configs, retention.ms).

  Background:
    Given the brokers are configured with:
      | log.retention.check.interval.ms | 200 |
    And a topic "aged" with 1 partition and the configs:
      | cleanup.policy | delete  |
      | retention.ms   | 3600000 |
      | segment.bytes  | 14      |
    When 5 records stamped 2 hours ago are produced to partition 0 of "aged"
    And 5 records stamped now are produced to partition 0 of "aged"
    Then within 5000 ms the earliest offset of partition 0 of "aged" is 5

  Scenario Outline: a consumer below the log start applies auto.offset.reset=<reset>
    Given a consumer configured with:
      | auto.offset.reset | <reset> |
    When a consumer reads 3 records of partition 0 of "aged" from offset 2 while records keep arriving
    Then <outcome>

    Examples:
      | reset    | outcome                                              |
      | earliest | the consumer's first record is at offset 5           |
      | latest   | the consumer's first record is at offset 10 or later |
      | none     | the consumer fails with OFFSET_OUT_OF_RANGE          |
