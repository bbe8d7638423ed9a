@wire
Feature: Topics are created with Kafka's configs and refused with Kafka's errors
  CreateTopics refuses an unknown config or a bad value with INVALID_CONFIG, a replication
  factor larger than the number of brokers with INVALID_REPLICATION_FACTOR, and a name Kafka's
  `Topic.validate` rejects (empty, `.` or `..`, longer than 249 characters, or with a character
  other than ASCII letters, digits, `.`, `_` and `-`) with INVALID_TOPIC_EXCEPTION; DescribeConfigs
  reports Kafka's defaults and the topic's overrides with where each value comes from (KIP-226).

  Scenario: an unknown topic config is refused with INVALID_CONFIG
    When a topic "t" is created with "retention.hourz" set to "1"
    Then the request fails with INVALID_CONFIG

  Scenario: a config value of the wrong type is refused with INVALID_CONFIG
    When a topic "t" is created with "retention.ms" set to "soon"
    Then the request fails with INVALID_CONFIG

  Scenario: a replication factor larger than the broker count is refused
    When a topic "t" is created with 1 partition and replication factor 7
    Then the request fails with INVALID_REPLICATION_FACTOR

  Scenario: an existing topic cannot be created again
    Given a topic "t" with 1 partition
    When a topic "t" is created with 1 partition and replication factor 1
    Then the request fails with TOPIC_ALREADY_EXISTS

  Scenario: DescribeConfigs reports Kafka's defaults and the topic's overrides
    Given a topic "t" with 1 partition and the configs:
      | retention.ms | 3600000 |
    Then DescribeConfigs for topic "t" reports "retention.ms" = "3600000" from DYNAMIC_TOPIC_CONFIG
    And DescribeConfigs for topic "t" reports "cleanup.policy" = "delete" from DEFAULT_CONFIG
    And DescribeConfigs for topic "t" reports "max.message.bytes" = "1048588" from DEFAULT_CONFIG

  Scenario Outline: a topic name <why> is refused with INVALID_TOPIC_EXCEPTION
    When a topic named exactly "<name>" is created
    Then the request fails with INVALID_TOPIC_EXCEPTION

    Examples:
      | why                   | name         |
      | with a space          | bad name     |
      | with a slash          | logs/2026    |
      | with a non-ASCII char | tópico       |
      | of two dots           | ..           |

  Scenario Outline: a topic name of <length> characters: the request <outcome>
    When a topic with a name of <length> characters is created
    Then the request <outcome>

    Examples:
      | length | outcome                              |
      | 249    | succeeds                             |
      | 250    | fails with INVALID_TOPIC_EXCEPTION   |
