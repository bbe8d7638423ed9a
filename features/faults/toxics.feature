@real-client @fault
Feature: Every kind of network fault leaves acknowledged records intact
  Each of toxiproxy's toxics, between librdkafka and the broker: a slow link (bandwidth), answers
  in small pieces (slicer), connections closed after some bytes (limit_data) or closed late
  (slow_close), a silent link (timeout) and an unreachable broker (the proxy disabled). Where a
  fault can make the client retry a request the broker already appended, the guarantee without
  idempotence is at-least-once; where it cannot, exactly once.

  Scenario: a bandwidth-limited link delivers every record exactly once
    Given a topic "slow" with 1 partition
    And the network between the client and the broker carries at most 32 KB/s
    When 300 records are produced to partition 0 of "slow"
    And a consumer reads partition 0 of "slow" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

  Scenario: answers delivered in small pieces are read exactly once
    Given a topic "sliced" with 1 partition
    And the network between the client and the broker delivers the broker's answers in pieces of about 64 bytes
    When 300 records are produced to partition 0 of "sliced"
    And a consumer reads partition 0 of "sliced" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

  Scenario: connections closed after a few kilobytes lose no acknowledged record
    Given a topic "cut-short" with 1 partition
    And a producer configured with:
      | batch.num.messages | 10 |
      | linger.ms          | 2  |
    And the network between the client and the broker closes each connection after 4000 bytes from the broker
    When 500 records are produced to partition 0 of "cut-short"
    And the network heals
    And a consumer reads partition 0 of "cut-short" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read at least once

  Scenario: connections closed late lose nothing
    Given a topic "lingering" with 1 partition
    And the network between the client and the broker closes connections 300 ms late
    When 200 records are produced to partition 0 of "lingering"
    And a consumer reads partition 0 of "lingering" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once

  Scenario: a producer delivers every record once the network is no longer silent
    Given a topic "silent" with 1 partition
    When 50 records are produced to partition 0 of "silent" while the network between the client and the broker is silent for 1500 ms
    And a consumer reads partition 0 of "silent" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read at least once

  Scenario: a producer delivers every record once an unreachable broker is reachable again
    Given a topic "partitioned" with 1 partition
    When 50 records are produced to partition 0 of "partitioned" while the network between the client and the broker is cut for 1500 ms
    And a consumer reads partition 0 of "partitioned" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read at least once

  Scenario: a toxic with toxicity 0 touches no connection
    Given a topic "spared" with 1 partition
    And the network between the client and the broker adds 3000 ms of latency to a share of 0.0 of the connections
    And a producer configured with:
      | message.timeout.ms | 1000 |
    When 100 records are produced to partition 0 of "spared"
    Then every send is acknowledged
