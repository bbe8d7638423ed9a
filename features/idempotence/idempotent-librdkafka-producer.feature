@idempotence @kip-98 @real-client
Feature: An idempotent librdkafka producer writes each record once, in order, through network faults
  With enable.idempotence=true librdkafka asks InitProducerId for a producer id, numbers its
  batches, and retries whatever got no answer, in order, with up to
  max.in.flight.requests.per.connection (at most 5) requests in flight; acks=all is implied.
  Whatever latency, resets or torn answers make it retry, the broker appends each batch once
  and in sequence order, so every acknowledged record is read exactly once, in the order it was
  acknowledged (KIP-98; KIP-679 made idempotence the default in Kafka's own clients). The
  history records each send in the order it was made, with the outcome librdkafka reports for
  it, so a retried batch appended after a later one shows as `nonmonotonic-send`.

  @fault
  Scenario Outline: records produced under 100 ms of latency are read exactly once, in order (max.in.flight.requests.per.connection=<in_flight>)
    Given a topic "net" with 1 partition
    And the brokers support idempotent producers
    And the network between the client and the broker adds 100 ms of latency
    And a producer configured with:
      | enable.idempotence                    | true        |
      | acks                                  | all         |
      | max.in.flight.requests.per.connection | <in_flight> |
      | batch.num.messages                    | 10          |
      | linger.ms                             | 2           |
    When 300 records are produced to partition 0 of "net"
    And the network heals
    And a consumer reads partition 0 of "net" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once
    And the records are read in the order they were acknowledged

    Examples:
      | in_flight |
      | 1         |
      | 5         |

  @fault
  Scenario Outline: records produced through connection resets are read exactly once, in order (max.in.flight.requests.per.connection=<in_flight>)
    Given a topic "net" with 1 partition
    And the brokers support idempotent producers
    And a producer configured with:
      | enable.idempotence                    | true        |
      | acks                                  | all         |
      | max.in.flight.requests.per.connection | <in_flight> |
      | batch.num.messages                    | 10          |
      | linger.ms                             | 5           |
    When 20000 records are produced to partition 0 of "net" while the client's connections to the broker are reset 3 times
    And a consumer reads partition 0 of "net" from the beginning
    Then every acknowledged record is read exactly once
    And the records are read in the order they were acknowledged

    Examples:
      | in_flight |
      | 1         |
      | 5         |

  @fault
  Scenario Outline: answers delivered in small pieces are read exactly once, in order (max.in.flight.requests.per.connection=<in_flight>)
    Given a topic "sliced" with 1 partition
    And the brokers support idempotent producers
    And the network between the client and the broker delivers the broker's answers in pieces of about 64 bytes
    And a producer configured with:
      | enable.idempotence                    | true        |
      | acks                                  | all         |
      | max.in.flight.requests.per.connection | <in_flight> |
      | batch.num.messages                    | 10          |
    When 300 records are produced to partition 0 of "sliced"
    And a consumer reads partition 0 of "sliced" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once
    And the records are read in the order they were acknowledged

    Examples:
      | in_flight |
      | 1         |
      | 5         |

  @fault
  Scenario Outline: an idempotent librdkafka producer whose answers are lost writes each record once, in order (max.in.flight.requests.per.connection=<in_flight>)
    Given a topic "net" with 1 partition
    And the brokers support idempotent producers
    And a producer configured with:
      | enable.idempotence                    | true        |
      | acks                                  | all         |
      | max.in.flight.requests.per.connection | <in_flight> |
      | batch.num.messages                    | 5           |
      | linger.ms                             | 5           |
      | socket.timeout.ms                     | 400         |
      | retry.backoff.ms                      | 50          |
      | message.timeout.ms                    | 20000       |
    When 50 records are produced to partition 0 of "net" while the broker's answers are lost for 3000 ms
    And a consumer reads partition 0 of "net" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once
    And the records are read in the order they were acknowledged

    Examples:
      | in_flight |
      | 1         |
      | 5         |

  Scenario: librdkafka refuses more than 5 requests in flight with idempotence
    Given a producer configured with:
      | enable.idempotence                    | true |
      | max.in.flight.requests.per.connection | 6    |
    Then creating the producer fails with a configuration error mentioning "`max.in.flight` must be set <= 5 when `enable.idempotence` is true"
