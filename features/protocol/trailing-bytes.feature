@wire
Feature: Bytes after a request's last field are ignored
  Kafka parses the fields a request's version defines and ignores whatever follows them in the
  frame (`RequestContext.parseRequest` calls `AbstractRequest.parseRequest`, which never checks
  that the body was consumed). Clients rely on it: since 2.1, librdkafka writes its all-topics
  Metadata request with a 4-byte placeholder where a 1-byte null array belongs, so the body
  carries 3 bytes past its last field. A broker that closes the connection instead breaks
  `list_topics()` and regex subscriptions in every librdkafka-based client.

  Background:
    Given a topic "listed" with 1 partition

  Scenario: a Metadata request for all topics with 3 bytes after its last field is answered
    When a client sends a Metadata v12 request for all topics with 3 bytes after its last field
    Then the broker answers it with Metadata listing topic "listed"
    And the broker still serves requests

  @real-client
  Scenario: librdkafka lists every topic
    When a librdkafka client lists every topic
    Then the listing includes topic "listed"
