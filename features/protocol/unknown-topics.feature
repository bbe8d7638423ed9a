@wire
Feature: Requests for topics that do not exist fail with UNKNOWN_TOPIC_OR_PARTITION
  Produce and Fetch never create topics (only Metadata does, when auto.create.topics.enable and
  the request allow it); a topic or partition the broker does not host is answered with
  UNKNOWN_TOPIC_OR_PARTITION for that partition.

  Scenario: a produce to a topic that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION
    When a record of 100 bytes is produced to partition 0 of "nowhere" by the wire client
    Then the request fails with UNKNOWN_TOPIC_OR_PARTITION

  Scenario: a produce to a partition that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION
    Given a topic "narrow" with 2 partitions
    When a record of 100 bytes is produced to partition 5 of "narrow" by the wire client
    Then the request fails with UNKNOWN_TOPIC_OR_PARTITION

  Scenario: a fetch from a topic that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION
    When partition 0 of "nowhere" is fetched from offset 0 with partition_max_bytes 1000
    Then the request fails with UNKNOWN_TOPIC_OR_PARTITION
