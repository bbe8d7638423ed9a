@groups @wire
Feature: The coordinator answers JoinGroup and Heartbeat with Kafka's error codes

  Exact answers of the group coordinator (the protocol guide's JoinGroup and Heartbeat; Kafka's
  `GroupMetadataManager`): a new member must first learn its member id (KIP-394), a session
  timeout outside the broker's bounds is refused, a member id the group never gave out is
  unknown, and a static member's old id is fenced once its `group.instance.id` has joined
  again (KIP-345). A new group waits `group.initial.rebalance.delay.ms` for more members before
  its first generation, and the members that come meanwhile join it together.

  @kip-394
  Scenario: a first JoinGroup without a member id is answered MEMBER_ID_REQUIRED with the id to use
    When a JoinGroup for group "newcomers" is sent with an empty member id
    Then the request fails with MEMBER_ID_REQUIRED
    And the JoinGroup answer carries a member id to join with

  Scenario: a session timeout below group.min.session.timeout.ms is refused with INVALID_SESSION_TIMEOUT
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0    |
      | group.min.session.timeout.ms     | 2000 |
    When member "a" sends a JoinGroup to group "hasty" with session.timeout.ms 1000
    Then the request fails with INVALID_SESSION_TIMEOUT

  Scenario: a heartbeat from a member id the group never gave out is answered UNKNOWN_MEMBER_ID
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0 |
    When member "a" joins group "club" on the wire
    And member "a" sends a heartbeat with the member id "not-a-member"
    Then the request fails with UNKNOWN_MEMBER_ID

  @kip-345
  Scenario: a static member that joins again fences its old member id with FENCED_INSTANCE_ID, in the same generation
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0 |
    And member "s1" of group "pool" has group.instance.id "worker-1"
    And member "s2" of group "pool" has group.instance.id "worker-1"
    When member "a" joins group "pool" on the wire
    And member "s1" starts joining group "pool" on the wire
    Then within 5000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS
    When members "a,s1" join group "pool" on the wire
    And member "s2" joins group "pool" on the wire
    Then member "s2" is in the generation member "s1" joined
    And a heartbeat from member "s2" is answered with NONE
    And a heartbeat from member "s1" is answered with FENCED_INSTANCE_ID

  @kip-394
  Scenario: with group.initial.rebalance.delay.ms 0 a new group's first join does not wait for a member that only asked for its id
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0 |
    When member "a" asks group "starters" for a member id
    And within 3000 ms member "b" joins group "starters" on the wire
    Then member "b" is in a later generation than before

  Scenario: members that join within group.initial.rebalance.delay.ms start together in the first generation
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 1000 |
    When members "a,b" join group "latecomers" on the wire
    Then member "b" is in the generation member "a" joined
    And a heartbeat from member "a" is answered with NONE
