@groups @wire
Feature: Committed offsets are kept exactly, with their metadata

  OffsetCommit stores an offset and a metadata string per group and partition in
  `__consumer_offsets`; OffsetFetch returns them exactly, and answers offset -1 with no error
  for a partition the group never committed (the protocol guide's OffsetCommit and
  OffsetFetch; Kafka's `OffsetMetadataManager.fetchOffsets`). A commit with generation -1 and
  no member id is how a consumer without group management (or an admin tool) commits for a
  group without members. A consumer commits its whole assignment in one request: the broker
  answers each partition on its own, UNKNOWN_TOPIC_OR_PARTITION for one that does not exist,
  and commits the others (KafkaApis.handleOffsetCommitRequest).

  Scenario: a committed offset and its metadata are fetched back exactly
    Given a topic "shipments" with 2 partitions
    When offset 42 with metadata "checkpoint 7 — host-a/é" is committed to partition 1 of "shipments" for group "auditors"
    Then the committed offset of partition 1 of "shipments" for group "auditors" is 42 with metadata "checkpoint 7 — host-a/é"

  Scenario: one OffsetCommit commits partitions of two topics, and refuses only the partition that does not exist
    Given a topic "shipments" with 3 partitions
    And a topic "returns" with 2 partitions
    When one OffsetCommit request for group "auditors" commits:
      | topic     | partition | offset | metadata |
      | shipments | 2         | 30     | s2       |
      | shipments | 0         | 10     | s0       |
      | returns   | 1         | 21     | r1       |
      | shipments | 7         | 70     | s7       |
      | shipments | 1         | 11     | s1       |
    Then the OffsetCommit answers:
      | topic     | partition | error                      |
      | shipments | 0         | NONE                       |
      | shipments | 1         | NONE                       |
      | shipments | 2         | NONE                       |
      | shipments | 7         | UNKNOWN_TOPIC_OR_PARTITION |
      | returns   | 1         | NONE                       |
    And the committed offsets of group "auditors" are:
      | topic     | partition | offset | metadata |
      | shipments | 0         | 10     | s0       |
      | shipments | 1         | 11     | s1       |
      | shipments | 2         | 30     | s2       |
      | returns   | 0         | -1     |          |
      | returns   | 1         | 21     | r1       |

  # A commit need not move forward: the last commit is the committed offset, lower or not (an
  # application that seeks back commits the position it rewound to). Commits pipelined on one
  # connection, as a consumer's asynchronous commits are, take effect in the order sent: Kafka
  # handles a connection's requests one at a time, in order (the socket server mutes a
  # connection until its request is answered).
  Scenario: the last commit wins, even when it moves the offset back
    Given a topic "shipments" with 2 partitions
    When offset 40 with metadata "ahead" is committed to partition 0 of "shipments" for group "auditors"
    And offset 25 with metadata "rewound" is committed to partition 0 of "shipments" for group "auditors"
    Then the committed offset of partition 0 of "shipments" for group "auditors" is 25

  Scenario: commits pipelined on one connection take effect in the order sent
    Given a topic "shipments" with 2 partitions
    When OffsetCommits of offsets "5,9,3,12,7" to partition 0 of "shipments" for group "auditors" are pipelined on one connection
    Then the request succeeds
    And the committed offset of partition 0 of "shipments" for group "auditors" is 7

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
