@real-client @fault
Feature: Acknowledged records survive network faults between the client and the broker
  Faults are injected through toxiproxy in front of the broker, which advertises the proxy so
  no client can bypass it. A connection reset or added latency may make a client retry, but a
  record the broker acknowledged is never lost; without idempotence a retried batch whose
  answer was lost is appended again (a `duplicate`), which is why exactly-once needs
  enable.idempotence (KIP-98). librdkafka keeps order across reconnects as long as nothing is
  retried out of order. (librdkafka's client-side request timeout is socket.timeout.ms, checked
  about once a second; its request.timeout.ms is the ack timeout sent to the broker.)

  Scenario: a producer keeps every acknowledged record through connection resets
    Given a topic "net" with 1 partition
    And a producer configured with:
      | acks                                  | all |
      | max.in.flight.requests.per.connection | 5   |
      | batch.num.messages                    | 10  |
      | linger.ms                             | 5   |
    When 20000 records are produced to partition 0 of "net" while the client's connections to the broker are reset 3 times
    And a consumer reads partition 0 of "net" from the beginning
    Then every acknowledged record is read at least once

  Scenario: records produced under 100 ms of latency are read exactly once
    Given a topic "net" with 1 partition
    And the network between the client and the broker adds 100 ms of latency
    And a producer configured with:
      | acks | all |
    When 200 records are produced to partition 0 of "net"
    And the network heals
    And a consumer reads partition 0 of "net" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

  Scenario: a consumer reads every record in order across connection resets
    Given a topic "net" with 1 partition
    And a producer configured with:
      | batch.num.messages | 10 |
    When 3000 records are produced to partition 0 of "net"
    And a consumer reads partition 0 of "net" from the beginning while the client's connections to the broker are reset 3 times
    Then every acknowledged record is read at least once
    And the records are read in the order they were acknowledged

  Scenario: without idempotence a retry after a lost answer appends the record twice
    Given a topic "net" with 1 partition
    And a producer configured with:
      | enable.idempotence | false |
      | acks               | all   |
      | retries            | 5     |
      | socket.timeout.ms  | 400   |
      | retry.backoff.ms   | 50    |
    When a record is produced to partition 0 of "net" while the broker's answers are lost for 3000 ms
    And a consumer reads partition 0 of "net" from the beginning
    Then every acknowledged record is read at least once
    And the checker finds duplicate
