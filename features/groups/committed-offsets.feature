@groups @wire
Feature: Committed offsets are kept exactly, with their metadata

  OffsetCommit stores an offset and a metadata string per group and partition in
  `__consumer_offsets`; OffsetFetch returns them exactly, and answers offset -1 with no error
  for a partition the group never committed (the protocol guide's OffsetCommit and
  OffsetFetch; Kafka's `OffsetMetadataManager.fetchOffsets`). A commit with generation -1 and
  no member id is how a consumer without group management (or an admin tool) commits for a
  group without members.

  Scenario: a committed offset and its metadata are fetched back exactly
    Given a topic "shipments" with 2 partitions
    When offset 42 with metadata "checkpoint 7 — host-a/é" is committed to partition 1 of "shipments" for group "auditors"
    Then the committed offset of partition 1 of "shipments" for group "auditors" is 42 with metadata "checkpoint 7 — host-a/é"

  Scenario: a partition the group never committed has committed offset -1
    Given a topic "shipments" with 2 partitions
    When offset 42 with metadata "" is committed to partition 1 of "shipments" for group "auditors"
    Then the committed offset of partition 0 of "shipments" for group "auditors" is -1
    And the committed offset of partition 1 of "shipments" for group "never-committed" is -1

  # Kafka compares the metadata's `String.length()`, in UTF-16 code units, with
  # offset.metadata.max.bytes, its name notwithstanding: ten "é" are 20 bytes of UTF-8 and fit
  # a limit of 10.
  Scenario Outline: commit metadata of exactly offset.metadata.max.bytes characters is kept (<metadata>)
    Given the brokers are configured with:
      | offset.metadata.max.bytes | 10 |
    And a topic "shipments" with 2 partitions
    When offset 42 with metadata "<metadata>" is committed to partition 1 of "shipments" for group "auditors"
    Then the committed offset of partition 1 of "shipments" for group "auditors" is 42 with metadata "<metadata>"

    Examples:
      | metadata   |
      | abcdefghij |
      | éééééééééé |
