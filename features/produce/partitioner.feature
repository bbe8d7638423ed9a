@real-client
Feature: A keyed record that names no partition goes where its key's hash says
  When a record names no partition, the producer chooses one. Java's producer hashes the key's
  bytes with murmur2, makes the hash positive and takes it modulo the topic's partition count
  (`BuiltInPartitioner.partitionForKey`); librdkafka's default partitioner, `consistent_random`,
  takes the CRC-32 of the key instead, and `partitioner=murmur2_random` makes it place keys as
  Java does, so that producers in both languages agree. Every record of one key lands in one
  partition: per-key ordering rests on it. The broker's part is to report every partition of the
  topic in Metadata and to store each batch in the partition its request names. The records are
  read back from each partition's leader; where the client says it sent them is not trusted.

  Background:
    Given a topic "orders" with 6 partitions

  Scenario: with partitioner=murmur2_random librdkafka places keys as Java's producer does
    Given a producer configured with:
      | partitioner | murmur2_random |
    When 60 records with distinct keys are produced to "orders" without a partition
    Then every record of "orders" is in partition murmur2(key) mod 6, as Java's producer places it

  Scenario: librdkafka's default partitioner places each key by the CRC-32 of its bytes
    When 60 records with distinct keys are produced to "orders" without a partition
    Then every record of "orders" is in partition crc32(key) mod 6, as librdkafka's consistent partitioner places it
