@process @fault @files @wire
Feature: A broker recovers its log from a crash that left damaged files
  After an unclean shutdown Kafka recovers every segment from the one holding its recovery
  point on (LogLoader.recoverLog), and the active segment always is one: it reads the segment
  batch by batch (LogSegment.recover), checking each batch's size and CRC, cuts the file at the
  first byte that is not part of a valid batch, and rebuilds the segment's offset and time
  indexes from what is left. What the broker serves afterwards is a prefix of what it had:
  offsets stay contiguous, no byte of a damaged batch is ever served, and the next append takes
  the offset after the last valid batch. A single broker cannot give back records that were
  only in the damaged bytes; these scenarios check that it loses nothing else.

  Each scenario writes several batches of 5 records into segments of 1000 bytes, so the log
  spans several segments and the active one holds more than one batch, kills the broker
  (kill -9: an unclean shutdown), damages the active segment, and starts the broker again.
  The harness damages files only of brokers it starts itself.

  Background:
    Given a topic "crashed" with 1 partition and the configs:
      | segment.bytes | 1000 |
    When 12 batches of 5 records are produced to partition 0 of "crashed" by the wire client
    And broker 1 is killed

  Scenario: a log cut inside its last batch loses that batch only, and appends follow the last whole batch
    When the last 10 bytes of partition 0 of "crashed" are cut off on broker 1
    And broker 1 is started again
    And 2 batches of 5 records are produced to partition 0 of "crashed" by the wire client
    Then partition 0 of "crashed" holds exactly the records acknowledged at offsets 0 to 64

  Scenario: half a batch written after the last acknowledged one is dropped, and nothing acknowledged is lost
    When half a batch is appended to partition 0 of "crashed" on broker 1
    And broker 1 is started again
    And 2 batches of 5 records are produced to partition 0 of "crashed" by the wire client
    Then partition 0 of "crashed" holds exactly the records acknowledged at offsets 0 to 69

  Scenario: a batch whose CRC no longer matches is cut off with every batch after it
    When a byte inside the batch at offset 50 of partition 0 of "crashed" is changed on broker 1
    And broker 1 is started again
    And 2 batches of 5 records are produced to partition 0 of "crashed" by the wire client
    Then partition 0 of "crashed" holds exactly the records acknowledged at offsets 0 to 59

  Scenario: indexes that point into the middle of batches are rebuilt, and a read from the middle of the segment finds its records
    When the indexes of partition 0 of "crashed" are overwritten with entries that point into the middle of batches on broker 1
    And broker 1 is started again
    And a consumer reads partition 0 of "crashed" from offset 52
    Then the consumer reads offsets 52 to 59
    And partition 0 of "crashed" holds exactly the records acknowledged at offsets 0 to 59
