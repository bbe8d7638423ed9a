@wire
Feature: Topics are deleted, grown and reconfigured as Kafka does
  DeleteTopics removes a topic and its data; CreatePartitions adds partitions and never removes
  them (INVALID_PARTITIONS); IncrementalAlterConfigs (KIP-339) changes a topic's configs with
  the same validation as CreateTopics; DescribeCluster (KIP-700) lists the brokers Metadata lists.

  Scenario: a deleted topic is gone and is created again empty
    Given a topic "temp" with 1 partition
    When 5 batches of 10 records are produced to partition 0 of "temp" by the wire client
    And the topic "temp" is deleted
    Then the request succeeds
    And Metadata does not show topic "temp"
    When a topic "temp" is created with 1 partition and replication factor 1
    Then the request succeeds
    And partition 0 of "temp" ends at offset 0

  @real-client
  Scenario: CreatePartitions adds partitions that take records
    Given a topic "grow" with 1 partition
    When the partition count of "grow" is increased to 3
    Then the request succeeds
    And Metadata shows topic "grow" with 3 partitions
    When 10 records are produced to partition 2 of "grow"
    Then every send is acknowledged
    And partition 2 of "grow" ends at offset 10

  Scenario: CreatePartitions cannot shrink a topic
    Given a topic "grow" with 3 partitions
    When the partition count of "grow" is increased to 2
    Then the request fails with INVALID_PARTITIONS

  Scenario: IncrementalAlterConfigs changes a topic config
    Given a topic "tuned" with 1 partition
    When "retention.ms" of topic "tuned" is set to "60000"
    Then the request succeeds
    And DescribeConfigs for topic "tuned" reports "retention.ms" = "60000" from DYNAMIC_TOPIC_CONFIG

  Scenario: IncrementalAlterConfigs refuses an unknown config
    Given a topic "tuned" with 1 partition
    When "retention.hourz" of topic "tuned" is set to "1"
    Then the request fails with INVALID_CONFIG

  Scenario: DescribeCluster lists the brokers Metadata lists
    Then DescribeCluster lists the brokers Metadata lists

  # In KRaft a new partition, a config change and a topic's removal are records in the
  # controller's metadata log (PartitionRecord, ConfigRecord, RemoveTopicRecord), written before
  # the request is answered and replayed when the controller starts: a kill -9 loses none of them.
  # The brokers serve Metadata and DescribeConfigs from their copy of that log; CreateTopics is
  # decided on the controller's own replay, so the deleted topic's name must be free there too.
  @process
  Scenario: added partitions, a config change and a deleted topic survive a kill -9
    Given a topic "grow" with 1 partition
    And a topic "tuned" with 1 partition
    And a topic "temp" with 1 partition
    When 5 batches of 10 records are produced to partition 0 of "temp" by the wire client
    And the partition count of "grow" is increased to 3
    Then the request succeeds
    When "retention.ms" of topic "tuned" is set to "60000"
    Then the request succeeds
    When the topic "temp" is deleted
    Then the request succeeds
    When the broker is killed with SIGKILL and started again
    Then Metadata shows topic "grow" with 3 partitions
    And DescribeConfigs for topic "tuned" reports "retention.ms" = "60000" from DYNAMIC_TOPIC_CONFIG
    And Metadata does not show topic "temp"
    When a topic "temp" is created with 1 partition and replication factor 1
    Then the request succeeds
    And partition 0 of "temp" ends at offset 0
