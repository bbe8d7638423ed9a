@replication @process
Feature: The preferred leader leads its partition again once it is back in sync
  The first replica in a partition's assignment is its preferred leader. A broker that fails
  and returns rejoins the ISR as a follower; with auto.leader.rebalance.enable=true the
  controller checks every leader.imbalance.check.interval.seconds and moves leadership back to
  the preferred replica once it is in the ISR, so that leadership stays spread as assigned
  (Kafka's operations guide, "Balancing leadership").

  Scenario: the preferred leader leads again after it is killed and started again
    Given a cluster of 3 brokers configured with:
      | auto.leader.rebalance.enable            | true |
      | leader.imbalance.check.interval.seconds | 1    |
      | broker.session.timeout.ms               | 1500 |
    And a topic "balanced" with the replica assignment "1:2:3"
    When broker 1 is killed
    Then Metadata shows broker 1 as an offline replica of partition 0 of "balanced"
    And within 5000 ms the leader of partition 0 of "balanced" is broker 2
    When broker 1 is started again
    Then within 10000 ms the ISR of partition 0 of "balanced" is "1,2,3"
    And within 10000 ms the leader of partition 0 of "balanced" is broker 1
