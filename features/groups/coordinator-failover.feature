@groups @wire @replication @process @fault
Feature: A group keeps its members and generation when its coordinator moves

  The coordinator of a group is the leader of the group's partition of `__consumer_offsets`.
  After each rebalance it writes the group's metadata there (generation, protocol, leader and
  every member with its assignment), and a broker that takes the partition over rebuilds the
  group from that log (Kafka's `GroupMetadataManager`, "Offset management" in the
  documentation). Members that lose their coordinator find the new one with FindCoordinator and
  carry on with the same member id and generation; so fencing by generation holds across the
  move: the members' heartbeats are answered as before, and a commit from an older generation is
  still refused with ILLEGAL_GENERATION. The wire members here find the coordinator again after
  their connection breaks or the coordinator answers NOT_COORDINATOR, as Kafka's clients do.

  Background:
    Given a cluster of 3 brokers configured with:
      | offsets.topic.replication.factor | 3 |
      | group.initial.rebalance.delay.ms | 0 |
    And a topic "ledger" with 2 partitions and replication factor 3

  Scenario Outline: members keep their generation when the coordinator is <stopped>, and the previous generation stays fenced
    When member "a" joins group "accountants" on the wire
    And member "b" starts joining group "accountants" on the wire
    Then within 5000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS
    When members "a,b" join group "accountants" on the wire
    Then member "a" is in a later generation than before
    When the coordinator of group "accountants" is <stopped>
    Then within 15000 ms a heartbeat from member "a" is answered with NONE
    And a heartbeat from member "b" is answered with NONE
    When member "a" commits offset 9 to partition 0 of "ledger" with its previous generation
    Then the request fails with ILLEGAL_GENERATION
    When member "a" commits offset 7 to partition 0 of "ledger"
    Then the request succeeds
    And the committed offset of partition 0 of "ledger" for group "accountants" is 7

    Examples:
      | stopped |
      | killed  |
      | stopped |

  Scenario: a group rebalances on from its loaded generation after the coordinator is killed
    When members "a,b" join group "accountants" on the wire
    And the coordinator of group "accountants" is killed
    And member "c" starts joining group "accountants" on the wire
    Then within 15000 ms a heartbeat from member "a" is answered with REBALANCE_IN_PROGRESS
    When members "a,b,c" join group "accountants" on the wire
    Then member "a" is in a later generation than before
    And member "c" is in the generation member "a" joined
