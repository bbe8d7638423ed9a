// KafkaJS's transactions against the broker (KIP-98, through its own EOS manager).
//
// - a transactional producer (transactionalId, idempotent, one request in flight) commits one
//   transaction over two partitions, aborts a second and commits a third;
// - a read_committed consumer (readUncommitted: false) reads the committed records, in order per
//   partition, and none of the aborted ones; a read_uncommitted consumer reads the aborted ones
//   too;
// - consume-transform-produce: a consumer in a group reads the input (eachBatch, no auto commit),
//   a transactional producer writes one output per input and commits the group's offsets with
//   `transaction.sendOffsets` (KafkaJS sends the group id only: TxnOffsetCommit as before
//   KIP-447); the group's committed offsets are then the input's end, and the output read with
//   read_committed holds exactly one record per input.
// KafkaJS has no assign(): each reader is a consumer of its own group, subscribed from the
// beginning. Every step is bounded, so a broker that never completes a transaction fails the
// script instead of hanging it.
// One `ok:` line per check; a failing check does not stop the others, and the script then exits
// non-zero, each failure naming the step, what was seen and what Kafka does.
//
// usage: node interop_txn_kafkajs.mjs BOOTSTRAP PREFIX
import { Kafka, logLevel } from 'kafkajs'

const CLIENT = 'kafkajs'
const STEP_TIMEOUT = 30000
// KafkaJS heartbeats between fetches, so a short fetch wait keeps a group's join and leave short.
const CONSUMER = { sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 200 }

class Failed extends Error {}

function fail(step, seen, expected) {
  throw new Failed(`${CLIENT}: ${step}: saw ${typeof seen === 'string' ? seen : JSON.stringify(seen)}, expected ${expected}`)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** One blocking step, bounded: its failure or silence named with what Kafka does. */
async function step(name, expected, promise) {
  let timer
  const expiry = new Promise((_, reject) => {
    const silence = `${CLIENT}: ${name}: saw no answer in ${STEP_TIMEOUT / 1000} s, expected ${expected}`
    timer = setTimeout(() => reject(new Failed(silence)), STEP_TIMEOUT)
  })
  try {
    return await Promise.race([promise, expiry])
  } catch (e) {
    if (e instanceof Failed) throw e
    fail(name, `${e.name}: ${e.message}`, expected)
  } finally {
    clearTimeout(timer)
  }
}

async function check(failures, name, f) {
  try {
    await f()
  } catch (e) {
    failures.push(e instanceof Failed ? e.message : `${CLIENT}: ${name}: ${e.name}: ${e.message}`)
  }
}

async function disconnect(client) {
  try {
    await Promise.race([client.disconnect(), sleep(10000)])
  } catch (e) {
    // Already reported by the step that failed.
  }
}

/** Every record of both partitions, as [partition, value], until expectedCount arrive. */
async function readAll(kafka, topic, isolation, expectedCount, timeout = 30000) {
  const readUncommitted = isolation === 'read_uncommitted'
  const c = kafka.consumer({ groupId: `${topic}-${isolation}-reader`, readUncommitted, ...CONSUMER })
  const got = []
  try {
    await step(`connect a ${isolation} consumer`, 'a connected consumer', c.connect())
    await step(`subscribe a ${isolation} consumer to ${topic}`, 'the subscription',
      c.subscribe({ topics: [topic], fromBeginning: true }))
    await step(`run a ${isolation} consumer`, 'the consumer running', c.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => { got.push([partition, message.value.toString()]) },
    }))
    const deadline = Date.now() + timeout
    while (got.length < expectedCount && Date.now() < deadline) await sleep(100)
    // A little longer, to see records that should not be there.
    await sleep(1000)
  } finally {
    await disconnect(c)
  }
  return got.slice()
}

async function transactions(kafka, prefix, failures) {
  const topic = `${prefix}-txn`
  const batches = [['committed-1', true], ['aborted', false], ['committed-2', true]]
  const p = kafka.producer({
    transactionalId: `${prefix}-tx`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30000,
  })
  try {
    await step('connect the transactional producer', 'a connected producer', p.connect())
    for (const [name, commit] of batches) {
      // The first transaction() initialises the transactional id (InitProducerId through its coordinator).
      const txn = await step(`begin transaction ${name}`, 'a transaction begun', p.transaction())
      const messages = Array.from({ length: 6 }, (_, i) => ({ value: `${name}-${i}`, partition: i % 2 }))
      try {
        await step(`transaction ${name}: produce 6 records`, 'every record acknowledged within the transaction',
          txn.send({ topic, acks: -1, messages }))
      } catch (e) {
        await txn.abort().catch(() => {})
        throw e
      }
      if (commit) await step(`commit of ${name}`, 'the transaction committed', txn.commit())
      else await step(`abort of ${name}`, 'the transaction aborted', txn.abort())
    }
  } finally {
    await disconnect(p)
  }
  const committed = batches.filter(([, c]) => c).flatMap(([n]) => Array.from({ length: 6 }, (_, i) => `${n}-${i}`))

  await check(failures, 'read_committed', async () => {
    const got = await readAll(kafka, topic, 'read_committed', committed.length)
    const values = got.map(([, v]) => v)
    if (JSON.stringify(values.slice().sort()) !== JSON.stringify(committed.slice().sort())) {
      fail('read_committed after commit, abort, commit', values, `exactly ${JSON.stringify(committed)}`)
    }
    for (const part of [0, 1]) {
      const mine = got.filter(([pp]) => pp === part).map(([, v]) => v)
      const want = committed.filter(v => Number(v.split('-').pop()) % 2 === part)
      if (JSON.stringify(mine) !== JSON.stringify(want)) {
        fail(`read_committed order in partition ${part}`, mine, JSON.stringify(want))
      }
    }
    console.log(`ok: read_committed reads the ${committed.length} committed records in order and none of the aborted`)
  })
  await check(failures, 'read_uncommitted', async () => {
    const everything = (await readAll(kafka, topic, 'read_uncommitted', 18)).map(([, v]) => v)
    const aborted = everything.filter(v => v.startsWith('aborted'))
    if (everything.length !== 18 || aborted.length !== 6) {
      fail('read_uncommitted', everything.slice().sort(), 'the 6 aborted records among the 18')
    }
    console.log('ok: read_uncommitted reads the aborted records too')
  })
}

async function consumeTransformProduce(kafka, admin, prefix, failures) {
  const [source, sink, groupId] = [`${prefix}-in`, `${prefix}-out`, `${prefix}-ctp`]
  const inputs = 40
  const p = kafka.producer()
  try {
    await step('connect a producer', 'a connected producer', p.connect())
    const messages = Array.from({ length: inputs }, (_, i) => ({ value: `in-${i}`, partition: i % 2 }))
    await step('produce the input', 'every record acknowledged', p.send({ topic: source, acks: -1, messages }))
  } finally {
    await disconnect(p)
  }
  const c = kafka.consumer({ groupId, readUncommitted: false, ...CONSUMER })
  const t = kafka.producer({ transactionalId: `${prefix}-ctp-tx`, idempotent: true, maxInFlightRequests: 1 })
  let done = 0
  let error = null
  try {
    await step('connect the transactional producer', 'a connected producer', t.connect())
    await step(`connect a consumer in group ${groupId}`, 'a connected consumer', c.connect())
    await step(`subscribe group ${groupId} to ${source}`, 'the subscription',
      c.subscribe({ topics: [source], fromBeginning: true }))
    await step(`run a consumer in group ${groupId}`, 'the consumer running', c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        if (error || batch.messages.length === 0) return
        const next = String(Number(batch.messages[batch.messages.length - 1].offset) + 1)
        const shown = `${batch.topic}-${batch.partition} at ${next}`
        try {
          const txn = await step(`begin a transaction for ${shown}`, 'a transaction begun', t.transaction())
          try {
            await step(`a transaction of ${batch.messages.length} outputs`, 'the outputs acknowledged within the transaction',
              txn.send({
                topic: sink,
                acks: -1,
                messages: batch.messages.map(m => ({
                  value: m.value.toString().replace('in-', 'out-'),
                  partition: batch.partition,
                })),
              }))
            await step(`sendOffsets ${shown}`, 'the offsets added to the transaction',
              txn.sendOffsets({
                consumerGroupId: groupId,
                topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
              }))
          } catch (e) {
            await txn.abort().catch(() => {})
            throw e
          }
          await step(`commit with offsets ${shown}`, 'the transaction committed', txn.commit())
          for (const m of batch.messages) resolveOffset(m.offset)
          done += batch.messages.length
          await heartbeat()
        } catch (e) {
          error = e
        }
      },
    }))
    const deadline = Date.now() + 45000
    while (done < inputs && !error && Date.now() < deadline) await sleep(100)
  } finally {
    await disconnect(c)
    await disconnect(t)
  }
  if (error) throw error
  if (done !== inputs) fail('consume-transform-produce', `${done} inputs processed`, `all ${inputs}`)

  await check(failures, 'committed offsets', async () => {
    const fetched = await step(`fetchOffsets of group ${groupId}`, "the group's offsets",
      admin.fetchOffsets({ groupId, topics: [source] }))
    const partitions = (fetched.find(x => x.topic === source) || { partitions: [] }).partitions
    const offsets = partitions.map(x => Number(x.offset)).sort((a, b) => a - b)
    if (JSON.stringify(offsets) !== JSON.stringify([inputs / 2, inputs / 2])) {
      fail("the group's committed offsets after sendOffsets", offsets, `[${inputs / 2}, ${inputs / 2}], the input's end`)
    }
    console.log('ok: sendOffsets commits the group\'s offsets with the transaction')
  })
  await check(failures, 'output', async () => {
    const got = (await readAll(kafka, sink, 'read_committed', inputs)).map(([, v]) => v).sort()
    const want = Array.from({ length: inputs }, (_, i) => `out-${i}`).sort()
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      fail('the output of consume-transform-produce', got, 'one output per input')
    }
    console.log(`ok: consume-transform-produce writes exactly one output per input (${inputs})`)
  })
}

async function main() {
  const [bootstrap, prefix] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: CLIENT, brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  const topics = [`${prefix}-txn`, `${prefix}-in`, `${prefix}-out`]
  const admin = kafka.admin()
  try {
    await step('connect an admin client', 'a connected client', admin.connect())
    // No replicationFactor: the broker's default.replication.factor (3 on the test cluster).
    await step(`create topics ${topics}`, 'the topics created',
      admin.createTopics({ topics: topics.map(topic => ({ topic, numPartitions: 2 })) }))
  } catch (e) {
    console.error(`FAILED: ${e instanceof Failed ? e.message : `${CLIENT}: create topics: ${e.name}: ${e.message}`}`)
    process.exit(1)
  }
  const failures = []
  await check(failures, 'transactions', () => transactions(kafka, prefix, failures))
  await check(failures, 'consume-transform-produce', () => consumeTransformProduce(kafka, admin, prefix, failures))
  await disconnect(admin)
  for (const f of failures) console.error(`FAILED: ${f}`)
  process.exit(failures.length ? 1 : 0)
}

main().catch(e => {
  console.error(`FAILED: ${CLIENT}: ${e.name}: ${e.message}`)
  process.exit(1)
})
