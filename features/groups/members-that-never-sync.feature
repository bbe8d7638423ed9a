@groups @wire
Feature: A member that joins but never syncs is removed after the rebalance timeout
  Once the join phase of a rebalance is over, the coordinator waits for every member's SyncGroup
  for at most the group's rebalance timeout (the largest rebalance_timeout_ms its members joined
  with; a consumer's max.poll.interval.ms). A member that has not sent it by then is removed and
  the group rebalances again without it, so a member stuck between JoinGroup and SyncGroup
  cannot hold the group back (Kafka's pending-sync expiry, `GroupMetadataManager`'s
  `expirePendingSync` for classic groups). The removed member's next heartbeat is answered
  UNKNOWN_MEMBER_ID.

  Background:
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0 |
    And a topic "ledger" with 2 partitions
    And member "a" of group "accountants" has rebalance.timeout.ms 2000
    And member "b" of group "accountants" has rebalance.timeout.ms 2000

  Scenario: a member that never sends SyncGroup is removed and the others rebalance without it
    When member "a" joins group "accountants" on the wire
    And member "b" starts joining group "accountants" on the wire
    Then within 5000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS
    When members "a,b" join group "accountants" on the wire, "b" without sending SyncGroup
    Then within 8000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS
    When member "a" joins group "accountants" on the wire
    Then member "a" is in a later generation than before
    And a heartbeat from member "b" is answered with UNKNOWN_MEMBER_ID
