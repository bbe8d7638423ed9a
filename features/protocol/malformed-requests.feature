@wire @malformed
Feature: Malformed and unsupported requests leave the broker serving
  Kafka closes a connection that sends a frame over socket.request.max.bytes (default 100 MiB),
  an unknown api key, a request version it does not enable, or bytes that do not parse; it keeps
  serving every other client and nothing on disk changes. ApiVersions at a version it does not
  know is answered with UNSUPPORTED_VERSION and the versions it supports (KIP-511).

  Background:
    Given a topic "safe" with 1 partition
    When 5 batches of 10 records are produced to partition 0 of "safe" by the wire client

  Scenario: a frame over socket.request.max.bytes closes the connection
    When a client sends a frame that declares 200000000 bytes
    Then the broker closes the connection
    And the broker still serves requests

  Scenario: a frame with a negative size closes the connection
    When a client sends a frame that declares -5 bytes
    Then the broker closes the connection
    And the broker still serves requests

  Scenario: garbage bytes close the connection
    When a client sends a frame of 64 garbage bytes
    Then the broker closes the connection
    And the broker still serves requests

  Scenario: an unknown api key closes the connection
    When a client sends a request with api key 9999
    Then the broker closes the connection
    And the broker still serves requests

  @kip-896 @since-kafka-4.0
  Scenario: Produce v2 is advertised but refused by closing the connection
    When a client sends a Produce v2 request
    Then the broker closes the connection
    And the broker still serves requests

  @kip-511
  Scenario: ApiVersions at an unknown version is answered with UNSUPPORTED_VERSION
    When a client sends an ApiVersions v99 request
    Then the broker answers ApiVersions with UNSUPPORTED_VERSION and its supported versions

  Scenario: a half-sent request loses nothing
    When a client sends half of a request frame and disconnects
    And a consumer reads partition 0 of "safe" from the beginning
    Then the broker still serves requests
    And every acknowledged record is read exactly once
