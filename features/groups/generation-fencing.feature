@groups @wire
Feature: The coordinator fences members of an older generation

  Every completed rebalance starts a new generation; the coordinator refuses a request from an
  older generation with ILLEGAL_GENERATION, so a zombie (a member that has not yet learned of
  the rebalance) cannot commit offsets over the new owner's. While the group is rebalancing,
  heartbeats are answered REBALANCE_IN_PROGRESS: that is how members learn to rejoin. (The
  JoinGroup, SyncGroup, Heartbeat and OffsetCommit requests of the protocol guide; Kafka's
  `ClassicGroup.validateOffsetCommit`.) The members here are wire-level: "b starts joining"
  sends its JoinGroup, which the coordinator holds until every member has rejoined.

  Background:
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0 |
    And a topic "ledger" with 2 partitions

  Scenario: a heartbeat during a rebalance is answered REBALANCE_IN_PROGRESS
    When member "a" joins group "accountants" on the wire
    And member "b" starts joining group "accountants" on the wire
    Then within 5000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS

  Scenario: a commit from a member's previous generation is refused with ILLEGAL_GENERATION and changes nothing
    When member "a" joins group "accountants" on the wire
    And member "a" commits offset 5 to partition 0 of "ledger"
    Then the request succeeds
    When member "b" starts joining group "accountants" on the wire
    Then within 5000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS
    When members "a,b" join group "accountants" on the wire
    Then member "a" is in a later generation than before
    When member "a" commits offset 9 to partition 0 of "ledger" with its previous generation
    Then the request fails with ILLEGAL_GENERATION
    And the committed offset of partition 0 of "ledger" for group "accountants" is 5
