@groups @real-client
Feature: A consumer that crashes loses its partitions after session.timeout.ms

  The coordinator removes a member it has not heard from for `session.timeout.ms` and
  rebalances the group; the remaining members take its partitions over from their committed
  offsets (Kafka's consumer documentation, "Detecting Consumer Failures"). What the group
  reads twice or never depends on when offsets are committed: committed after processing, no
  record is lost (at-least-once) and only what a consumer processed after its last commit
  before losing a partition (the crashed one's uncommitted tail) is read again;
  committed before processing (librdkafka stores a record's offset for the next auto-commit
  when poll returns it, `enable.auto.offset.store`), a record polled and committed but not
  processed is lost. The crash is librdkafka's destroy without the consumer close: no
  LeaveGroup, no final commit, no more heartbeats.

  Background:
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0   |
      | group.min.session.timeout.ms     | 500 |
    And a topic "payments" with 3 partitions
    And a consumer configured with:
      | session.timeout.ms            | 1500     |
      | heartbeat.interval.ms         | 300      |
      | partition.assignment.strategy | range    |
      | auto.offset.reset             | earliest |

  Scenario: with commits after processing the others resume from the committed offsets and lose nothing
    Given a consumer configured with:
      | enable.auto.commit | false |
    When consumers "c1,c2,c3" join group "settlement" subscribed to "payments", taking 10 ms to process each record and committing after each
    Then within 10000 ms consumers "c1,c2,c3" share the partitions of "payments"
    When 60 records are produced to each partition of "payments"
    And within 10000 ms consumer "c1" processes 10 records
    And consumer "c1" is killed
    Then within 6000 ms consumers "c2,c3" share the partitions of "payments"
    And within 20000 ms the group reads every partition of "payments" to its last acknowledged record
    And every acknowledged record is read at least once
    And every record read more than once had been processed but not committed when its partition changed owner

  Scenario: with auto-commit a record committed before it was processed is lost
    Given a consumer configured with:
      | enable.auto.commit      | true |
      | auto.commit.interval.ms | 100  |
    When consumers "c1,c2" join group "settlement" subscribed to "payments", taking 100 ms to process each record
    Then within 10000 ms consumers "c1,c2" share the partitions of "payments"
    When 20 records are produced to each partition of "payments"
    And the consumer that owns partition 0 of "payments" is killed after committing a record it has not processed
    Then within 20000 ms the group reads every partition of "payments" to its last acknowledged record
    And the checker finds lost-write
