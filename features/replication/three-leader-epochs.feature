@replication @real-client @process @fault @kip-101 @kip-279
Feature: Replicas converge after three leader epochs
  Each leader election starts a new leader epoch, and every replica records where each epoch
  began in its log. A replica that comes back asks the leader, with OffsetForLeaderEpoch, where
  its own latest epoch ends in the leader's log, and truncates there. When the leader never had
  that epoch, it answers the largest epoch it has below it and where that one ends; the replica
  must then cut where that common epoch ends in its own log, not at the offset alone (KIP-279:
  with the offset alone, a replica that led an epoch nobody else saw keeps its records at offsets
  where the leader holds others).

  The controller elects the first replica in assignment order that is in the ISR, so the
  scenario chooses each leader by killing the ones before it, and cuts the links between
  brokers so that each epoch's records reach only the replicas it names.
  replica.lag.time.max.ms is long, so no ISR shrinks while the links are cut, and
  min.insync.replicas is 1, so the last leader acknowledges alone once the others are fenced.

  Scenario: a replica that led an epoch the new leader never saw drops that epoch's records and converges
    Given a cluster of 3 brokers configured with:
      | replica.lag.time.max.ms   | 30000 |
      | broker.session.timeout.ms | 1500  |
    And a topic "journal" with the replica assignment "1:2:3" and the configs:
      | min.insync.replicas | 1 |
    And a producer configured with:
      | acks               | all  |
      | message.timeout.ms | 1000 |
    When 20 records are produced to partition 0 of "journal"
    And the network between broker 1 and broker 2 is cut
    And 10 records are produced to partition 0 of "journal"
    And the network between broker 2 and broker 3 is cut
    And broker 1 is killed
    Then within 5000 ms the leader of partition 0 of "journal" is broker 2
    When 5 records are produced to partition 0 of "journal"
    And broker 2 is killed
    Then within 5000 ms the leader of partition 0 of "journal" is broker 3
    When 20 records are produced to partition 0 of "journal"
    And the network between the brokers heals
    And broker 1 is started again
    And broker 2 is started again
    Then within 15000 ms all replicas of partition 0 of "journal" hold the same log
    When a consumer reads partition 0 of "journal" from the beginning
    Then every acknowledged record is read at least once
    And the records are read in the order they were acknowledged
