@replication @wire
Feature: A replication factor larger than the number of brokers is refused
  Each replica of a partition lives on a different broker, so CreateTopics refuses a
  replication factor larger than the number of registered brokers with
  INVALID_REPLICATION_FACTOR, and creates nothing (Kafka's CreateTopics; KRaft's replica
  placer: "The target replication factor ... cannot be reached because only N broker(s) are
  registered").

  Scenario: a cluster of 3 brokers refuses replication factor 4
    Given a cluster of 3 brokers
    When a topic "wide" is created with 1 partition and replication factor 4
    Then the request fails with INVALID_REPLICATION_FACTOR
    And Metadata does not show topic "wide"

  Scenario: a cluster of 3 brokers creates a topic with replication factor 3
    Given a cluster of 3 brokers
    When a topic "wide" is created with 3 partitions and replication factor 3
    Then the request succeeds
    And Metadata shows topic "wide" with 3 partitions
