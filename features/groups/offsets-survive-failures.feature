@groups @wire @process @fault
Feature: Committed offsets survive a broker restart and the coordinator's death

  Committed offsets are records in the compacted internal topic `__consumer_offsets`,
  replicated like any other (`offsets.topic.replication.factor`); the coordinator of a group is
  the leader of its partition of that topic, and a new coordinator rebuilds the group's offsets
  from the log when it takes the partition over (Kafka's documentation, "Offset management").
  The coordinator is found with FindCoordinator.

  Scenario: committed offsets survive a broker restart
    Given a topic "stock" with 2 partitions
    When offset 42 with metadata "restock-3" is committed to partition 0 of "stock" for group "buyers"
    And the broker is restarted
    Then within 10000 ms the committed offset of partition 0 of "stock" for group "buyers" is 42 with metadata "restock-3"

  Scenario: committed offsets survive a kill -9 of the broker
    Given a topic "stock" with 2 partitions
    When offset 42 with metadata "restock-3" is committed to partition 0 of "stock" for group "buyers"
    And the broker is killed with SIGKILL and started again
    Then within 10000 ms the committed offset of partition 0 of "stock" for group "buyers" is 42 with metadata "restock-3"

  # offsets.topic.segment.bytes below one batch puts every commit in a segment of its own:
  # the coordinator reads its partition to the end, segment after segment, when it loads it.
  Scenario: the latest commit of each partition survives a kill -9 with __consumer_offsets in many segments
    Given the brokers are configured with:
      | offsets.topic.segment.bytes | 14 |
    And a topic "stock" with 2 partitions
    When offset 10 with metadata "first-0" is committed to partition 0 of "stock" for group "buyers"
    And offset 11 with metadata "first-1" is committed to partition 1 of "stock" for group "buyers"
    And offset 20 with metadata "second-0" is committed to partition 0 of "stock" for group "buyers"
    And offset 21 with metadata "second-1" is committed to partition 1 of "stock" for group "buyers"
    And the broker is killed with SIGKILL and started again
    Then within 10000 ms the committed offset of partition 0 of "stock" for group "buyers" is 20 with metadata "second-0"
    And within 10000 ms the committed offset of partition 1 of "stock" for group "buyers" is 21 with metadata "second-1"

  # A commit of several partitions is one batch of records in __consumer_offsets: loading it
  # must read every record of the batch.
  Scenario: the offsets of one commit of several partitions survive a kill -9
    Given a topic "stock" with 3 partitions
    When one OffsetCommit request for group "buyers" commits:
      | topic | partition | offset | metadata |
      | stock | 0         | 10     | first    |
      | stock | 1         | 11     | second   |
      | stock | 2         | 12     | third    |
    And the broker is killed with SIGKILL and started again
    Then within 10000 ms the committed offset of partition 0 of "stock" for group "buyers" is 10 with metadata "first"
    And the committed offsets of group "buyers" are:
      | topic | partition | offset | metadata |
      | stock | 0         | 10     | first    |
      | stock | 1         | 11     | second   |
      | stock | 2         | 12     | third    |

  @real-client
  Scenario: a consumer group resumes after a broker restart where it committed
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "stock" with 1 partition
    And a consumer configured with:
      | session.timeout.ms    | 2000     |
      | heartbeat.interval.ms | 200      |
      | enable.auto.commit    | false    |
      | auto.offset.reset     | earliest |
    When 10 records are produced to partition 0 of "stock"
    And consumers "c1" join group "buyers" subscribed to "stock", committing after each record they process
    Then within 10000 ms the group reads every partition of "stock" to its last acknowledged record
    When consumer "c1" is closed
    And the broker is restarted
    And 10 records are produced to partition 0 of "stock"
    And consumers "c2" join group "buyers" subscribed to "stock", committing after each record they process
    Then within 10000 ms the group reads every partition of "stock" to its last acknowledged record
    And every acknowledged record is read at least once
    And no record of "stock" is read more than once

  @replication
  Scenario: committed offsets survive the death of the coordinator with __consumer_offsets replicated 3 times
    Given a cluster of 3 brokers configured with:
      | offsets.topic.replication.factor | 3 |
    And a topic "stock" with 2 partitions and replication factor 3
    When offset 42 with metadata "restock-3" is committed to partition 0 of "stock" for group "buyers"
    And the coordinator of group "buyers" is killed
    Then within 15000 ms the committed offset of partition 0 of "stock" for group "buyers" is 42 with metadata "restock-3"
