// KafkaJS (pure JavaScript: its own protocol, group and producer code) through its normal API.
//
// - An idempotent producer (idempotent: true, acks -1) has every send acknowledged, at
//   contiguous offsets.
// - Two consumers of one group split a topic's partitions (each some, together all, none
//   twice), read every record between them and commit.
// - A new consumer of that group resumes where they committed: it reads the records produced
//   since and none of those before.
// - admin.fetchTopicOffsetsByTimestamp, for a timestamp between two records' CreateTimes, finds
//   the first record at or after it.
// One `ok:` line per check; a failing check does not stop the independent ones, and the script
// then exits non-zero, each failure naming the step, what was seen and what Kafka does.
//
// usage: node interop_kafkajs.mjs BOOTSTRAP PREFIX
import { Kafka, logLevel } from 'kafkajs'

const CLIENT = 'kafkajs'
const SENDS = 5
const PER_SEND = 10
const PARTITIONS = 4
const PER_PARTITION = 10
// KafkaJS heartbeats between fetches, so it learns of a rebalance (and disconnects) only once a
// fetch returns: a short fetch wait keeps the run short.
const CONSUMER = { sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 200 }

class Failed extends Error {}

function fail(step, seen, expected) {
  throw new Failed(`${CLIENT}: ${step}: saw ${JSON.stringify(seen)}, expected ${expected}`)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function idempotentProduce(producer, topic) {
  // One record batch per send: each acknowledgement carries that batch's base offset.
  const bases = []
  for (let s = 0; s < SENDS; s++) {
    const messages = Array.from({ length: PER_SEND }, (_, i) => ({ value: `idem-${s * PER_SEND + i}`, partition: 0 }))
    const [meta] = await producer.send({ topic, acks: -1, messages })
    if (meta.errorCode !== 0) fail(`idempotent produce to ${topic}`, meta, 'errorCode 0')
    bases.push(Number(meta.baseOffset))
  }
  const expected = Array.from({ length: SENDS }, (_, s) => s * PER_SEND)
  if (JSON.stringify(bases) !== JSON.stringify(expected)) {
    fail(`idempotent produce to ${topic}`, bases, `base offsets ${expected} (${PER_SEND} records a send)`)
  }
  console.log(`ok: idempotent producer: ${SENDS * PER_SEND} records acknowledged at offsets 0..${SENDS * PER_SEND - 1}`)
}

async function produceRound(producer, topic, tag) {
  const values = new Set()
  const messages = []
  for (let p = 0; p < PARTITIONS; p++) {
    for (let i = 0; i < PER_PARTITION; i++) {
      messages.push({ value: `${tag}-${p}-${i}`, partition: p })
      values.add(`${tag}-${p}-${i}`)
    }
  }
  await producer.send({ topic, acks: -1, messages })
  return values
}

function member(kafka, topic, groupId) {
  const m = { consumer: kafka.consumer({ groupId, ...CONSUMER }), values: new Set(), last: {}, assigned: [] }
  m.consumer.on(m.consumer.events.GROUP_JOIN, e => {
    m.assigned = (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
  })
  m.start = async () => {
    await m.consumer.connect()
    await m.consumer.subscribe({ topics: [topic], fromBeginning: true })
    await m.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        m.values.add(message.value.toString())
        m.last[partition] = Number(message.offset)
      },
    })
  }
  return m
}

const union = (a, b) => new Set([...a, ...b])
const same = (a, b) => a.size === b.size && [...a].every(x => b.has(x))

async function groupSplitAndResume(kafka, producer, topic, groupId) {
  const old = await produceRound(producer, topic, 'old')
  const members = [member(kafka, topic, groupId), member(kafka, topic, groupId)]
  let settled = false
  let split
  try {
    await Promise.all(members.map(m => m.start()))
    const deadline = Date.now() + 40000
    while (!settled) {
      const [a0, a1] = members.map(m => new Set(m.assigned))
      const done = members.every(m => m.assigned.every(p => m.last[p] === PER_PARTITION - 1))
      settled = a0.size > 0 && a1.size > 0 && [...a0].every(p => !a1.has(p)) && union(a0, a1).size === PARTITIONS &&
        done && same(union(members[0].values, members[1].values), old)
      if (!settled && Date.now() > deadline) {
        const read = [...union(members[0].values, members[1].values)].filter(v => old.has(v)).length
        fail(`group ${groupId} of two consumers`, `assignments ${[...a0]} and ${[...a1]}, ${read} of ${old.size} records read`,
          `the ${PARTITIONS} partitions split between both, every record read`)
      }
      await sleep(100)
    }
    split = members.map(m => m.assigned)
    // Both commit before either leaves: a leave starts a rebalance that would refuse the other's commit.
    for (const [i, m] of members.entries()) {
      try {
        // Each has read its partitions to the end: the next offset to read is PER_PARTITION.
        await m.consumer.commitOffsets(split[i].map(p => ({ topic, partition: p, offset: String(PER_PARTITION) })))
      } catch (e) {
        fail(`group ${groupId} commit`, `${e.name}: ${e.message}`, 'the commit accepted')
      }
    }
  } finally {
    await Promise.all(members.map(m => m.consumer.disconnect()))
  }
  console.log(`ok: two consumers in group ${groupId} took partitions ${split[0]} and ${split[1]}, ` +
    `read all ${old.size} records and committed`)

  const fresh = await produceRound(producer, topic, 'new')
  const resumer = member(kafka, topic, groupId)
  const deadline = Date.now() + 30000
  try {
    await resumer.start()
    while (!same(resumer.values, fresh) && [...resumer.values].every(v => fresh.has(v)) && Date.now() < deadline) {
      await sleep(100)
    }
  } finally {
    await resumer.consumer.disconnect()
  }
  const got = resumer.values
  if (!same(got, fresh)) {
    const oldRead = [...got].filter(v => !fresh.has(v)).length
    fail(`a new consumer in group ${groupId}`, `${got.size - oldRead} of ${fresh.size} new records, ${oldRead} already committed ones`,
      'every record produced since the commit and none before it')
  }
  console.log(`ok: a new consumer in group ${groupId} resumed at the committed offsets: read the ${fresh.size} new records only`)
}

async function offsetsByTimestamp(admin, producer, topic) {
  const base = (Math.floor(Date.now() / 1000) - 3600) * 1000
  const stamps = Array.from({ length: 5 }, (_, i) => base + i * 1000)
  await producer.send({ topic, acks: -1, messages: stamps.map((ts, i) => ({ value: `t${i}`, partition: 0, timestamp: String(ts) })) })
  const at = stamps[2] + 500
  const found = await admin.fetchTopicOffsetsByTimestamp(topic, at)
  const p0 = found.find(p => p.partition === 0)
  if (!p0 || p0.offset !== '3') fail(`fetchTopicOffsetsByTimestamp(${topic}, ${at})`, found, 'offset 3 for partition 0')
  console.log('ok: fetchTopicOffsetsByTimestamp between the CreateTimes of offsets 2 and 3 found offset 3')
}

async function main() {
  const [bootstrap, prefix] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: CLIENT, brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  const [idem, grouped, timed] = [`${prefix}-idempotent`, `${prefix}-group`, `${prefix}-times`]
  const admin = kafka.admin()
  await admin.connect()
  try {
    // No replicationFactor: the broker's default.replication.factor (3 on the test cluster).
    await admin.createTopics({
      topics: [{ topic: idem, numPartitions: 1 }, { topic: grouped, numPartitions: PARTITIONS }, { topic: timed, numPartitions: 1 }],
    })
  } catch (e) {
    console.error(`${CLIENT}: create topics: ${e.name}: ${e.message}`)
    process.exit(1)
  }
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  let failed = 0
  for (const [step, check] of [
    ['idempotent produce', () => idempotentProduce(producer, idem)],
    ['consumer group', () => groupSplitAndResume(kafka, producer, grouped, `${prefix}-group`)],
    ['fetchTopicOffsetsByTimestamp', () => offsetsByTimestamp(admin, producer, timed)],
  ]) {
    try {
      await check()
    } catch (e) {
      console.error(e instanceof Failed ? e.message : `${CLIENT}: ${step}: ${e.name}: ${e.message}`)
      failed++
    }
  }
  await producer.disconnect()
  await admin.disconnect()
  if (failed) {
    console.error(`${CLIENT}: ${failed} check(s) failed`)
    process.exit(1)
  }
}

main().catch(e => {
  console.error(`${CLIENT}: ${e.name}: ${e.message}`)
  process.exit(1)
})
