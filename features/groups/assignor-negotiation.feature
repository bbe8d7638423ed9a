@groups @wire
Feature: The coordinator picks an assignor every member offers, by the members' votes
  Each member's JoinGroup lists the assignors (protocols of type "consumer") it can use, in its
  order of preference: `range`, `roundrobin`, Java's eager `sticky` (StickyAssignor),
  `cooperative-sticky` (KIP-429). For each generation the coordinator considers only the
  protocols every member offers; each member votes for the first of those in its own list, and
  the most votes win (Kafka's `ClassicGroup.selectProtocol`). A member that offers none of the
  group's protocols is refused with INCONSISTENT_GROUP_PROTOCOL (`ClassicGroup.supportsProtocols`).
  The assignment itself is computed by the group's leader, a client, with the chosen assignor;
  the coordinator hands it on.

  Background:
    Given the brokers are configured with:
      | group.initial.rebalance.delay.ms | 0 |
    And a topic "ledger" with 2 partitions

  # Only range is offered by both; each member's first choice is one the other lacks.
  Scenario: an assignor one member lacks is not chosen, however much the others prefer it
    Given member "a" of group "accountants" offers the assignors "sticky,range"
    And member "b" of group "accountants" offers the assignors "roundrobin,range"
    When member "a" joins group "accountants" on the wire
    And member "b" starts joining group "accountants" on the wire
    And members "a,b" join group "accountants" on the wire
    Then the group's assignor, as member "a"'s JoinGroup answer names it, is "range"
    And the group's assignor, as member "b"'s JoinGroup answer names it, is "range"

  # Every member offers range and sticky; a votes range, b and c sticky. Each member's first
  # choice is one another member lacks.
  Scenario: among the assignors every member offers, the one most members prefer wins
    Given member "a" of group "accountants" offers the assignors "roundrobin,range,sticky"
    And member "b" of group "accountants" offers the assignors "cooperative-sticky,sticky,range"
    And member "c" of group "accountants" offers the assignors "roundrobin,sticky,range"
    When member "a" joins group "accountants" on the wire
    And member "b" starts joining group "accountants" on the wire
    And member "c" starts joining group "accountants" on the wire
    And members "a,b,c" join group "accountants" on the wire
    Then the group's assignor, as member "a"'s JoinGroup answer names it, is "sticky"

  Scenario: a member that offers none of the group's assignors is refused with INCONSISTENT_GROUP_PROTOCOL
    Given member "b" of group "accountants" offers the assignors "roundrobin"
    When member "a" joins group "accountants" on the wire
    And member "b" sends a JoinGroup to group "accountants" with session.timeout.ms 10000
    Then the request fails with INCONSISTENT_GROUP_PROTOCOL
