@replication @wire @fault @kip-497
Feature: The ISR drops a follower that falls behind and takes it back once it catches up
  A follower that has not caught up with the leader's log end for replica.lag.time.max.ms
  leaves the ISR; once it has caught up again it rejoins. The leader proposes both changes to
  the controller (KIP-497, AlterPartition), and Metadata shows the ISR the controller holds.
  While the ISR is smaller than min.insync.replicas, a produce with acks=all is refused with
  NOT_ENOUGH_REPLICAS and nothing is appended (Kafka's topic configs, min.insync.replicas). A
  produce already appended and waiting for a follower when the ISR shrinks below it is answered
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: the record stays in the log, unacknowledged (Kafka's
  `Partition.checkEnoughReplicasReachOffset`).
  Partition 0 is assigned to brokers 1, 2 and 3, so broker 1 leads it.

  Scenario: the ISR drops a follower cut off from the leader and takes it back after the network heals
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms   | 1500 |
      | replica.fetch.wait.max.ms | 100  |
    And a topic "tracked" with the replica assignment "1:2:3"
    When broker 3 is isolated from the other brokers
    Then within 5000 ms the ISR of partition 0 of "tracked" is "1,2"
    When 20 records are produced to partition 0 of "tracked" with acks=all by the wire client
    Then every send is acknowledged
    When the network between the brokers heals
    Then within 5000 ms the ISR of partition 0 of "tracked" is "1,2,3"
    And within 5000 ms all replicas of partition 0 of "tracked" hold the same log

  Scenario: acks=all is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than min.insync.replicas
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms | 1500 |
    And a topic "strict" with the replica assignment "1:2:3" and the configs:
      | min.insync.replicas | 3 |
    When broker 3 is isolated from the other brokers
    Then within 5000 ms the ISR of partition 0 of "strict" is "1,2"
    When 5 records are produced to partition 0 of "strict" with acks=all by the wire client
    Then every send fails with NOT_ENOUGH_REPLICAS
    And partition 0 of "strict" ends at offset 0

  # Kafka refuses only while the ISR is smaller than min.insync.replicas
  # (`Partition.appendRecordsToLeader`: `inSyncSize < minIsr`): an ISR of exactly that size
  # takes acks=all.
  Scenario: acks=all succeeds while the ISR is exactly min.insync.replicas
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms | 1500 |
    And a topic "enough" with the replica assignment "1:2:3" and the configs:
      | min.insync.replicas | 2 |
    When broker 3 is isolated from the other brokers
    Then within 5000 ms the ISR of partition 0 of "enough" is "1,2"
    When 5 records are produced to partition 0 of "enough" with acks=all by the wire client
    Then every send is acknowledged
    And partition 0 of "enough" ends at offset 5

  Scenario: acks=all waiting for a follower that stopped fetching ends NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrinks below min.insync.replicas
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms | 1500 |
    And a topic "waiting" with the replica assignment "1:2:3" and the configs:
      | min.insync.replicas | 3 |
    When broker 3 is isolated from the other brokers
    And a record is produced to partition 0 of "waiting" with acks=-1 by the wire client
    Then every send fails with NOT_ENOUGH_REPLICAS_AFTER_APPEND
    And partition 0 of "waiting" ends at offset 1
