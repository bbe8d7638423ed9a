@wire @kip-467
Feature: A batch refused for some of its records names each of them
  Kafka validates every record of a batch (`LogValidator.validateRecord`) and refuses the whole
  batch if any record is invalid, appending nothing. Since ProduceResponse v8 the answer names
  each bad record by its index in the batch, with a message (`record_errors`, KIP-467), so a
  client can tell the application which record it was. A keyless record on a compacted topic is
  INVALID_RECORD; a CreateTime further than `message.timestamp.before.max.ms` behind or
  `message.timestamp.after.max.ms` ahead of the broker's clock is INVALID_TIMESTAMP (KIP-937).
  The answer is checked on the wire: librdkafka (2.12 and 2.16, measured) reports every record of
  such a batch with the partition's INVALID_RECORD, whether or not the broker named it.

  Scenario: a keyless record on a compacted topic is named in the answer
    Given a topic "keyed" with 1 partition and the configs:
      | cleanup.policy | compact |
    When a batch of records with the keys "k0,k1,null,k3,k4" is produced to partition 0 of "keyed" by the wire client
    Then the request fails with INVALID_RECORD
    And the answer names records "2" of the batch
    And partition 0 of "keyed" ends at offset 0

  Scenario: every keyless record of a batch is named
    Given a topic "keyed" with 1 partition and the configs:
      | cleanup.policy | compact |
    When a batch of records with the keys "null,k1,null,k3,null" is produced to partition 0 of "keyed" by the wire client
    Then the request fails with INVALID_RECORD
    And the answer names records "0,2,4" of the batch
    And partition 0 of "keyed" ends at offset 0

  Scenario: every record with a timestamp out of range is named, with INVALID_TIMESTAMP
    Given a topic "recent" with 1 partition and the configs:
      | message.timestamp.before.max.ms | 3600000 |
      | message.timestamp.after.max.ms  | 3600000 |
    When a batch of records stamped "now, 2 hours ago, now, in 2 hours, now" is produced to partition 0 of "recent" by the wire client
    Then the request fails with INVALID_TIMESTAMP
    And the answer names records "1,3" of the batch
    And partition 0 of "recent" ends at offset 0

  Scenario: a timestamp just inside message.timestamp.before.max.ms is accepted
    Given a topic "recent" with 1 partition and the configs:
      | message.timestamp.before.max.ms | 3600000 |
    When a batch of records stamped "now, 59 minutes ago, now" is produced to partition 0 of "recent" by the wire client
    Then the request succeeds
    And partition 0 of "recent" ends at offset 3

  Scenario: the records of a refused batch are not appended and the next batch is
    Given a topic "keyed" with 1 partition and the configs:
      | cleanup.policy | compact |
    When a batch of records with the keys "k0,null" is produced to partition 0 of "keyed" by the wire client
    And a batch of records with the keys "k2,k3,k4" is produced to partition 0 of "keyed" by the wire client
    And a consumer reads partition 0 of "keyed" from the beginning
    Then the acknowledged offsets of partition 0 of "keyed" are contiguous from 0
    And every acknowledged record is read exactly once
