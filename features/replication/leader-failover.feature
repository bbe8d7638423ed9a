@replication @real-client @process
Feature: A partition whose leader dies gets a new leader from its ISR
  "What if the server holding orders-0 dies?" Every partition has one leader and followers that
  replicate it. When the leader's broker stops heartbeating for broker.session.timeout.ms, the
  controller fences it and elects a new leader from the partition's ISR (Kafka's design,
  "Replication"; KIP-631 for the KRaft controller, KIP-497 for ISR changes through it). Metadata
  then lists the dead broker as an offline replica, and producers and consumers carry on with
  the new leader, which has every record the old one acknowledged with acks=all.

  Scenario: when the leader of orders-0 dies, an in-sync replica leads and clients carry on
    Given a cluster of 3 brokers configured with:
      | broker.session.timeout.ms    | 1500 |
      | broker.heartbeat.interval.ms | 100  |
    And a topic "orders" with 1 partition and replication factor 3
    And a producer configured with:
      | acks | all |
    When 50 records are produced to partition 0 of "orders"
    And the leader of partition 0 of "orders" is killed
    Then within 5000 ms partition 0 of "orders" has a new leader
    And the new leader of partition 0 of "orders" was in the ISR before the old leader died
    And Metadata shows the old leader of partition 0 of "orders" as an offline replica
    When 50 records are produced to partition 0 of "orders"
    And a consumer reads partition 0 of "orders" from the beginning
    Then every send is acknowledged
    And every acknowledged record is read exactly once
