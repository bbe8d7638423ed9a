@compaction @wire
Feature: A compacted topic refuses records without a key
  Compaction keeps the latest record of each key, so a record without one has no place in a
  compacted log: the broker refuses the batch with INVALID_RECORD ("Compacted topic cannot accept
  message without key", Kafka's LogValidator) and appends nothing of it (Kafka's topic configs,
  cleanup.policy).

  Scenario: a keyless record on a compacted topic is refused with INVALID_RECORD
    Given a topic "accounts" with 1 partition and the configs:
      | cleanup.policy | compact |
    When a record is produced to partition 0 of "accounts" with acks=1 by the wire client
    Then the request fails with INVALID_RECORD
    And partition 0 of "accounts" ends at offset 0
