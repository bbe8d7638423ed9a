@replication @real-client @process @fault @kip-101 @kip-279 @kip-320
Feature: A returning leader truncates the records no other replica has
  A leader cut off from its followers still appends what producers send it. With acks=all it
  cannot acknowledge those records (no follower fetches them), and its high watermark does not
  move, so no consumer reads them. If it dies before the ISR shrinks, the controller elects a
  follower from the ISR (a clean election) whose log lacks them, and the new leader appends
  other records at the same offsets. When the old leader returns as a follower it must truncate
  its log to where it diverges from the new leader's, using leader epochs rather than its high
  watermark (KIP-101, KIP-279; KIP-320 for fetch-time detection), and then hold exactly the
  leader's log. replica.lag.time.max.ms is long here so the ISR still holds every replica when
  the leader dies.

  Scenario: an isolated leader's unacknowledged records are truncated when it returns, and no consumer ever saw them
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms   | 10000 |
      | broker.session.timeout.ms | 1500  |
    And a topic "journal" with 1 partition and replication factor 3 and the configs:
      | min.insync.replicas | 2 |
    And a producer configured with:
      | acks               | all  |
      | message.timeout.ms | 1000 |
    When 20 records are produced to partition 0 of "journal"
    And the leader of partition 0 of "journal" is isolated from its followers
    And 10 records are produced to partition 0 of "journal"
    And a consumer reads partition 0 of "journal" from the beginning
    And the leader of partition 0 of "journal" is killed
    And the network between the brokers heals
    Then within 5000 ms partition 0 of "journal" has a new leader
    And the new leader of partition 0 of "journal" was in the ISR before the old leader died
    When 20 records are produced to partition 0 of "journal"
    And the old leader of partition 0 of "journal" is started again
    Then within 10000 ms all replicas of partition 0 of "journal" hold the same log
    When a consumer reads partition 0 of "journal" from the beginning
    Then every acknowledged record is read at least once
    And the records are read in the order they were acknowledged
