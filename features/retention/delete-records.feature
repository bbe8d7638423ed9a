@retention @kip-107 @wire
Feature: DeleteRecords moves the log start offset
  DeleteRecords asks a partition's leader to delete every record below an offset: the log start
  offset moves there at once, and the answer carries it as the low watermark; offset -1 means
  the high watermark, and an offset above the high watermark is refused with
  OFFSET_OUT_OF_RANGE (KIP-107). ListOffsets for the earliest offset answers the log start
  offset, consumers start there, and a fetch below it is answered with OFFSET_OUT_OF_RANGE.

  Background:
    Given a topic "ledger" with 1 partition
    When 10 records stamped now are produced to partition 0 of "ledger"

  Scenario: DeleteRecords moves the log start offset and ListOffsets earliest answers it
    When records are deleted from partition 0 of "ledger" up to offset 4
    Then the request succeeds
    And the low watermark is 4
    And the earliest offset of partition 0 of "ledger" is 4
    When a consumer reads partition 0 of "ledger" from the beginning
    Then the consumer reads offsets 4 to 9
    And retention and compaction removed nothing they must keep

  Scenario: DeleteRecords to offset -1 deletes up to the high watermark
    When records are deleted from partition 0 of "ledger" up to offset -1
    Then the request succeeds
    And the low watermark is 10
    And the earliest offset of partition 0 of "ledger" is 10
    And the log end offset of partition 0 of "ledger" is 10

  Scenario: DeleteRecords above the high watermark fails with OFFSET_OUT_OF_RANGE
    When records are deleted from partition 0 of "ledger" up to offset 11
    Then the request fails with OFFSET_OUT_OF_RANGE
    And the earliest offset of partition 0 of "ledger" is 0

  Scenario: a fetch below the log start fails with OFFSET_OUT_OF_RANGE
    When records are deleted from partition 0 of "ledger" up to offset 4
    And partition 0 of "ledger" is fetched from offset 2 with partition_max_bytes 1048576
    Then the request fails with OFFSET_OUT_OF_RANGE

  # Kafka keeps the log start offset in log-start-offset-checkpoint, written at a clean shutdown
  # and every log.flush.start.offset.checkpoint.interval.ms (60 s by default; LogManager): after a
  # clean restart the records DeleteRecords removed stay removed. After a kill -9 within that
  # interval Kafka itself may bring them back (the log start falls back to the first segment's
  # base offset until retention deletes it), so that is not asserted.
  @process
  Scenario: the log start offset DeleteRecords set survives a clean restart
    When records are deleted from partition 0 of "ledger" up to offset 4
    Then the low watermark is 4
    When the broker is restarted
    Then the earliest offset of partition 0 of "ledger" is 4
    When a consumer reads partition 0 of "ledger" from the beginning
    Then the consumer reads offsets 4 to 9

  # segment.bytes below one batch puts every record in a segment of its own: DeleteRecords
  # deletes the segments wholly below the new log start and keeps the one that holds it.
  Scenario Outline: DeleteRecords to offset <offset> of one-record segments keeps the record at <offset>
    Given a topic "journal" with 1 partition and the configs:
      | segment.bytes | 14 |
    When 10 records stamped now are produced to partition 0 of "journal"
    And records are deleted from partition 0 of "journal" up to offset <offset>
    Then the low watermark is <offset>
    And the earliest offset of partition 0 of "journal" is <offset>
    When a consumer reads partition 0 of "journal" from the beginning
    Then the consumer reads offsets <offset> to 9
    And retention and compaction removed nothing they must keep

    Examples:
      | offset |
      | 1      |
      | 4      |
      | 8      |
