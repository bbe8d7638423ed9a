@idempotence @kip-98 @process
Feature: A partition keeps its producers' state across a broker restart and a leader change
  The broker's memory of each producer (its epoch and the metadata of its last batches) is
  part of the partition, not of the broker process: after a restart the broker rebuilds it from
  the log (and its producer state snapshots), and a follower builds it from the batches it
  replicates, so a new leader recognises a batch sent again just as the old one would (Kafka's
  `ProducerStateManager`: `truncateAndReload` on recovery, `appendAsFollower` on followers).
  Otherwise a producer retrying across a restart or a failover would have its batch appended
  twice: the broker would take it for a producer it does not know, which it accepts at any
  sequence (KIP-360). Kafka's snapshots keep only each producer's last batch, so after a
  restart the scenarios send the last batch again.

  @wire
  Scenario: a batch sent again after a kill -9 and restart is acknowledged with its original offset
    Given a topic "payments" with 1 partition
    And an idempotent producer on the wire client
    When 3 batches of 10 records are pipelined to partition 0 of "payments"
    Then every send is acknowledged
    When the broker is killed with SIGKILL and started again
    And the batch with sequence 20 is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "payments" holds the records in sequence order, each once

  @wire
  Scenario: a batch sent again after a clean restart is acknowledged with its original offset
    Given a topic "payments" with 1 partition
    And an idempotent producer on the wire client
    When 3 batches of 10 records are pipelined to partition 0 of "payments"
    Then every send is acknowledged
    When the broker is restarted
    And the batch with sequence 20 is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "payments" holds the records in sequence order, each once

  @wire @replication
  Scenario: a batch sent again to a new leader is acknowledged with its original offset
    Given a cluster of 3 brokers configured with:
      | broker.session.timeout.ms    | 1500 |
      | broker.heartbeat.interval.ms | 100  |
    And a topic "payments" with 1 partition and replication factor 3 and the configs:
      | min.insync.replicas | 2 |
    And an idempotent producer on the wire client
    When a batch of 10 records is sent to partition 0 of "payments"
    Then the request succeeds
    When the leader of partition 0 of "payments" is killed
    Then within 5000 ms partition 0 of "payments" has a new leader
    When the batch with sequence 0 is sent again
    Then it is acknowledged with its original offset
    And partition 0 of "payments" holds the records in sequence order, each once

  @real-client @replication
  Scenario Outline: an idempotent librdkafka producer writes each record once, in order, across a leader failover (max.in.flight.requests.per.connection=<in_flight>)
    Given a cluster of 3 brokers configured with:
      | broker.session.timeout.ms | 1500 |
    And a topic "payments" with 1 partition and replication factor 3 and the configs:
      | min.insync.replicas | 2 |
    And the brokers support idempotent producers
    And a producer configured with:
      | enable.idempotence                    | true        |
      | acks                                  | all         |
      | max.in.flight.requests.per.connection | <in_flight> |
      | batch.num.messages                    | 10          |
      | linger.ms                             | 0           |
      | message.timeout.ms                    | 15000       |
    When 300 records are produced to partition 0 of "payments" while the leader is killed after 100 acknowledgements
    Then within 5000 ms partition 0 of "payments" has a new leader
    When a consumer reads partition 0 of "payments" from the beginning
    Then every acknowledged record is read exactly once
    And the records are read in the order they were acknowledged

    Examples:
      | in_flight |
      | 1         |
      | 5         |

  # Producer ids come from the controller in blocks, never handed out twice (Kafka's
  # `ProducerIdManager`, the controller's `ProducerIdsRecord`): a restart must not hand out an
  # id again, or the new producer's first batch would look like the old one's duplicate.
  @wire
  Scenario: a producer initialised after a restart gets an id of its own
    Given a topic "payments" with 1 partition
    And an idempotent producer on the wire client
    When a batch of 10 records with sequence 0 is sent to partition 0 of "payments"
    Then the request succeeds
    When the broker is restarted
    Given an idempotent producer on the wire client
    When a batch of 10 records with sequence 0 is sent to partition 0 of "payments"
    Then the request succeeds
    And partition 0 of "payments" ends at offset 20
