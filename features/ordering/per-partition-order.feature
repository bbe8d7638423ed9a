Feature: A partition keeps records in the order they were sent
  Within a partition, records are appended in the order the broker receives them, and a
  connection's requests are handled one at a time, in order (Kafka's `SocketServer` mutes a
  channel until its response is sent). That is what lets a producer keep up to
  max.in.flight.requests.per.connection requests in flight without reordering its own records
  when nothing is retried.

  @wire
  Scenario: pipelined produce requests are appended in the order sent
    Given a topic "orders" with 1 partition
    When 5 produce requests of 20 records each are pipelined to partition 0 of "orders"
    And a consumer reads partition 0 of "orders" from the beginning
    Then every send is acknowledged
    And the records are read in the order they were acknowledged
    And every acknowledged record is read exactly once

  @real-client
  Scenario: a producer's records are read in the order they were sent
    Given a topic "orders" with 1 partition
    And a producer configured with:
      | acks                                  | all |
      | max.in.flight.requests.per.connection | 5   |
      | batch.num.messages                    | 10  |
      | linger.ms                             | 2   |
    When 1000 records are produced to partition 0 of "orders"
    And a consumer reads partition 0 of "orders" from the beginning
    Then every send is acknowledged
    And the records are read in the order they were acknowledged
    And every acknowledged record is read exactly once
