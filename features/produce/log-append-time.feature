@wire @kip-32
Feature: message.timestamp.type=LogAppendTime stamps records with the broker's clock
  With message.timestamp.type=CreateTime (the default) a record keeps the timestamp its
  producer gave it; with LogAppendTime the broker overwrites it with its own clock when it
  appends the batch (KIP-32), and ListOffsets by timestamp follows the broker's time.

  Scenario: records get the broker's time, not the producer's
    Given a topic "stamped" with 1 partition and the configs:
      | message.timestamp.type | LogAppendTime |
    When records with the timestamps "1000,2000" are produced to partition 0 of "stamped" by the wire client
    Then every send is acknowledged
    And every batch of partition 0 of "stamped" carries a LogAppendTime within an hour of now
    And ListOffsets for timestamp 3000 on partition 0 of "stamped" answers 0

  Scenario: records keep the producer's time with CreateTime
    Given a topic "stamped" with 1 partition and the configs:
      | message.timestamp.type | CreateTime |
    When records with the timestamps "1000,2000" are produced to partition 0 of "stamped" by the wire client
    Then ListOffsets for timestamp 3000 on partition 0 of "stamped" answers -1
    And ListOffsets for timestamp 1500 on partition 0 of "stamped" answers 1
