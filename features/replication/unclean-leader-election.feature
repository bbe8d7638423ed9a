@replication @real-client @process @fault
Feature: unclean.leader.election.enable trades acknowledged records for availability
  When every replica in a partition's ISR is gone, Kafka either waits for one of them to come
  back (unclean.leader.election.enable=false, the default: the partition has no leader and is
  unavailable meanwhile) or elects a replica that is not in sync: "Indicates whether to enable
  replicas not in the ISR set to be elected as leader as a last resort, even though doing so
  may result in data loss" (Kafka's topic configs). Here the leader is cut off from its
  followers until, after replica.lag.time.max.ms, the ISR is the leader alone; it then
  acknowledges records with acks=1 that no follower has, and dies. When it returns, its log
  holds records the new leader wrote other records over; it truncates them by leader epoch
  (KIP-101, KIP-279), not to its high watermark, which is above where the logs diverge.

  Scenario: with unclean leader election an out-of-sync replica leads and acknowledged records are lost
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms   | 1500 |
      | broker.session.timeout.ms | 1500 |
    And a topic "ledger" with 1 partition and replication factor 3 and the configs:
      | unclean.leader.election.enable | true |
      | min.insync.replicas            | 1    |
    And a producer configured with:
      | acks | 1 |
    When 20 records are produced to partition 0 of "ledger"
    And the leader of partition 0 of "ledger" is isolated from its followers
    Then within 5000 ms the ISR of partition 0 of "ledger" is its leader alone
    When 20 records are produced to partition 0 of "ledger"
    And the leader of partition 0 of "ledger" is killed
    And the network between the brokers heals
    Then within 5000 ms partition 0 of "ledger" has a new leader
    When 20 records are produced to partition 0 of "ledger"
    And a consumer reads partition 0 of "ledger" from the beginning
    Then the checker finds lost-write
    When the old leader of partition 0 of "ledger" is started again
    Then within 10000 ms all replicas of partition 0 of "ledger" hold the same log

  Scenario: without unclean leader election the partition waits for its last in-sync replica and loses nothing
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms   | 1500 |
      | broker.session.timeout.ms | 1500 |
    And a topic "ledger" with 1 partition and replication factor 3 and the configs:
      | unclean.leader.election.enable | false |
      | min.insync.replicas            | 1     |
    And a producer configured with:
      | acks | 1 |
    When 20 records are produced to partition 0 of "ledger"
    And the leader of partition 0 of "ledger" is isolated from its followers
    Then within 5000 ms the ISR of partition 0 of "ledger" is its leader alone
    When 20 records are produced to partition 0 of "ledger"
    And the leader of partition 0 of "ledger" is killed
    And the network between the brokers heals
    Then partition 0 of "ledger" has no leader for 2000 ms
    When the old leader of partition 0 of "ledger" is started again
    Then within 10000 ms the old leader of partition 0 of "ledger" leads it again
    When a consumer reads partition 0 of "ledger" from the beginning
    Then every acknowledged record is read at least once
