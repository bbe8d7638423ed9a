@wire
Feature: acks decides whether and when the broker answers a produce
  acks=0 gets no response at all, and an error closes the connection instead, since there is no
  response to carry it (Kafka's `KafkaApis.handleProduceRequest`); acks=1 and acks=all (-1) are
  answered once the record is appended (and, with replicas, replicated); any other value is
  refused with INVALID_REQUIRED_ACKS.

  Background:
    Given a topic "acks" with 1 partition

  Scenario: an acks=0 produce gets no response and is appended
    When a record is produced to partition 0 of "acks" with acks=0 by the wire client
    Then the broker sends no response to it
    And partition 0 of "acks" ends at offset 1

  Scenario: an acks=0 produce that fails closes the connection
    When a record is produced to partition 7 of "acks" with acks=0 by the wire client
    Then the broker closes the connection

  Scenario Outline: an acks=<acks> produce is answered with its offset
    When a record is produced to partition 0 of "acks" with acks=<acks> by the wire client
    Then the request succeeds
    And the acknowledged offsets of partition 0 of "acks" are contiguous from 0

    Examples:
      | acks |
      | 1    |
      | -1   |

  Scenario: acks=2 is refused with INVALID_REQUIRED_ACKS
    When a record is produced to partition 0 of "acks" with acks=2 by the wire client
    Then the request fails with INVALID_REQUIRED_ACKS
    And partition 0 of "acks" ends at offset 0
