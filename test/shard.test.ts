// Risk shards on a real Apache Kafka broker (docs/SCALE-OUT.md): scripts/kafka.sh fetches Kafka
// with Maven and starts one KRaft node on 127.0.0.1; if it cannot, this file fails with the
// reason (it never skips). Three shards and the ADL coordinator on a random stream (fills,
// transfers, funding, orders, marks) equal one engine fed the same stream, on the three ranked
// formulas and pro rata; a shard killed (SIGKILL) mid-stream and restarted from its snapshot ends
// with the state hash of an uninterrupted replay of its partition and publishes no output id
// twice, every record bit for bit; a coordinator killed inside an ADL round and restarted leaves
// every account as one engine does, with no allocation applied twice.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ShardCore, type ShardSnapshot } from '../src/shard/core.js'
import {
  CoordinatorRunner,
  ShardRunner,
  createKafka,
  createTopics,
  inputRecords,
  type KafkaLike,
} from '../src/shard/kafka.js'
import {
  decode,
  decodeInput,
  partitionOf,
  topics,
  type InputMessage,
  type OfferMessage,
  type OutputMessage,
} from '../src/shard/protocol.js'
import {
  accountState,
  comparable,
  expectStatusesAndOrders,
  randomStream,
  reference,
} from './shard-helpers.js'

const root = resolve(__dirname, '..')
const P = 3
const dir = mkdtempSync(join(tmpdir(), 'deleverage-kafka-'))
const port = 20000 + Math.floor(Math.random() * 20000)
let kafka: KafkaLike

beforeAll(() => {
  // Fails the file with the script's reason when Kafka cannot be fetched or started.
  execFileSync(
    'bash',
    [join(root, 'scripts/kafka.sh'), 'start', join(dir, 'broker'), String(port)],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 240_000,
    },
  )
  kafka = createKafka([`127.0.0.1:${port}`], 'deleverage-test')
}, 250_000)

afterAll(() => {
  execFileSync('bash', [join(root, 'scripts/kafka.sh'), 'stop', join(dir, 'broker')])
  rmSync(dir, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function publish(prefix: string, msgs: InputMessage[]): Promise<void> {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await p.connect()
  await p.send({ topic: topics(prefix).input, messages: inputRecords(msgs, P) })
  await p.disconnect()
}

async function ends(topic: string): Promise<bigint[]> {
  const a = kafka.admin()
  await a.connect()
  let o: Awaited<ReturnType<typeof a.fetchTopicOffsets>> = []
  for (let tries = 0; tries < 50 && o.length === 0; tries++)
    o = await a.fetchTopicOffsets(topic).catch(() => sleep(200).then(() => []))
  await a.disconnect()
  return Array.from({ length: o.length }, (_, p) => BigInt(o.find((x) => x.partition === p)!.high))
}

/** Every record of a topic, per partition, in offset order. Stored by offset: a consumer that
 * restarts (the group coordinator moving, a rebalance) reads records again. */
async function readAll(topic: string): Promise<Buffer[][]> {
  const end = await ends(topic)
  const out: Buffer[][] = end.map(() => [])
  const got = end.map(() => 0n)
  const c = kafka.consumer({ groupId: `read-${topic}-${Math.random()}`, maxWaitTimeInMs: 20 })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  await c.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const o = Number(m.offset)
        if (out[batch.partition]![o] === undefined) got[batch.partition]!++
        out[batch.partition]![o] = m.value!
      }
    },
  })
  const deadline = Date.now() + 30_000
  while (got.some((n, p) => n < end[p]!) && Date.now() < deadline) await sleep(50)
  await c.disconnect()
  if (got.some((n, p) => n < end[p]!)) throw new Error(`${topic}: read ${got} of ${end} records`)
  return out
}

/** Where a shard is: the input offset it has published through, its last mark, whether held. */
interface Progress {
  offset: bigint
  lastMark: number
  held: boolean
}
const progressOf = (s: ShardRunner): Progress => ({
  offset: s.published,
  lastMark: s.core.state.lastMark,
  held: s.core.held !== null,
})

/**
 * Until every shard has published its whole partition as written when the stream was, applied
 * `lastMark` and left its ADL phase. Released means `adlDone(lastMark)` was applied, and every
 * allocation of that mark precedes it in the partition: the state is final whatever the
 * coordinator's timing (its own `doneMark` moves before its messages reach the brokers).
 */
async function settle(prefix: string, progress: () => Progress[], lastMark: number): Promise<void> {
  const end = await ends(topics(prefix).input)
  const deadline = Date.now() + 60_000
  for (;;) {
    const now = progress()
    if (now.every((s, p) => s.offset >= end[p]! && s.lastMark >= lastMark && !s.held)) return
    if (Date.now() > deadline)
      throw new Error(`shards did not settle: ${JSON.stringify(now, (_, v) => `${v}`)} of ${end}`)
    await sleep(100)
  }
}

/** `k`, whose producers deliver the ADL allocations of mark `mark` (the last one) `ms` late, as a
 * slow broker or network would: the shards must not be taken for finished while they travel. */
function lateAllocations(k: KafkaLike, mark: number, ms: number): KafkaLike {
  const late = (v: Buffer) => {
    const m = decode<InputMessage>(v)
    return m.type === 'adlAlloc' && m.mark >= mark
  }
  return {
    admin: () => k.admin(),
    consumer: (o) => k.consumer(o),
    producer: (o) => {
      const p = k.producer(o)
      const send: typeof p.send = async (r) => {
        if (r.messages.some((m) => late(m.value))) await sleep(ms)
        return p.send(r)
      }
      return { connect: () => p.connect(), disconnect: () => p.disconnect(), send }
    },
  }
}

async function runSharded(prefix: string, stream: InputMessage[], snapshotDir: string) {
  await createTopics(kafka, P, prefix)
  const lastMark = Math.max(...stream.map((m) => (m.type === 'mark' ? m.seq : 0)))
  const coordinator = new CoordinatorRunner({
    kafka: lateAllocations(kafka, lastMark, 400),
    partitions: P,
    prefix,
  })
  const shards = Array.from(
    { length: P },
    (_, partition) => new ShardRunner({ kafka, partition, partitions: P, prefix, snapshotDir }),
  )
  await Promise.all([coordinator.start(), ...shards.map((s) => s.start())])
  await publish(prefix, stream)
  await settle(prefix, () => shards.map(progressOf), lastMark)
  expect(coordinator.core.doneMark).toBe(lastMark)
  await Promise.all([coordinator.stop(), ...shards.map((s) => s.stop())])
  const outputs = (await readAll(topics(prefix).output)).flat().map((b) => decode<OutputMessage>(b))
  return { shards: shards.map((s) => s.core), coordinator: coordinator.core, outputs }
}

/** `deleverage shard` in a process of its own (so the test can SIGKILL it). */
function cli(prefix: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('./src/cli.ts').then((m) => m.main(process.argv.slice(1)))`,
      '--',
      'shard',
      '--brokers',
      `127.0.0.1:${port}`,
      '--partitions',
      `${P}`,
      '--prefix',
      prefix,
      ...args,
    ],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  )
}

/** `k`, whose producers call `onOffer` as they send an ADL offer (the coordinator is then inside
 * an ADL round: it wrote the call and waits for, or merges, the offers). */
function watchingOffers(k: KafkaLike, onOffer: (o: OfferMessage) => void): KafkaLike {
  return {
    admin: () => k.admin(),
    consumer: (o) => k.consumer(o),
    producer: (o) => {
      const p = k.producer(o)
      const send: typeof p.send = (r) => {
        for (const m of r.messages) {
          const o = decode<OfferMessage | { type: 'report' }>(m.value)
          if (o.type === 'offer') onOffer(o)
        }
        return p.send(r)
      }
      return { connect: () => p.connect(), disconnect: () => p.disconnect(), send }
    },
  }
}

describe('risk shards on a real Kafka broker', () => {
  it('computes the owning partition as Kafka’s default partitioner does', async () => {
    const { Partitioners } = require('kafkajs') as {
      Partitioners: { DefaultPartitioner: () => (a: unknown) => number }
    }
    const kafkajs = Partitioners.DefaultPartitioner()
    for (let i = 0; i < 500; i++) {
      const key = `acct-${i}-${'é'.repeat(i % 5)}`
      const partitionMetadata = Array.from({ length: 7 }, (_, p) => ({ partitionId: p, leader: 0 }))
      expect(partitionOf(key, 7)).toBe(kafkajs({ topic: 't', partitionMetadata, message: { key } }))
    }
  })

  it.each(['bitmex', 'binance', 'hyperliquid', 'prorata'] as const)(
    '3 shards and the coordinator equal one engine (ranking %s)',
    async (ranking) => {
      const accounts = ranking === 'bitmex' ? 300 : 120
      const stream = randomStream(ranking === 'bitmex' ? 5n : 6n, ranking, accounts, 50)
      const one = reference(stream)
      const run = await runSharded(`t-${ranking}`, stream, join(dir, `snap-${ranking}`))
      const sharded = Object.assign({}, ...run.shards.map((s) => accountState(s)))
      expect(Object.keys(sharded).length).toBe(accounts)
      expect(sharded).toEqual(accountState(one.core))
      const a = comparable(one.outputs)
      const b = comparable(run.outputs)
      expect(a.liquidations.length).toBeGreaterThan(20)
      expect(b.liquidations).toEqual(a.liquidations)
      expectStatusesAndOrders(a, b, false)
      expect(a.adl.length).toBeGreaterThan(3)
      expect([...b.adl].sort()).toEqual([...a.adl].sort())
      // Counterparties, order and quantities: the coordinator's merge is the engine's own ADL.
      const merged = run.coordinator.history.flatMap((h) =>
        h.fills.map((f) => `${h.mark} adlFill ${f.account} ${h.symbol} ${f.qty}`),
      )
      if (ranking !== 'prorata')
        expect(merged).toEqual(a.adl.map((l) => l.split(' ').slice(0, 5).join(' ')))
      else expect(run.coordinator.history.some((h) => (h.bonus ?? []).length > 0)).toBe(true)
      const ids = run.outputs.map((o) => o.id)
      expect(new Set(ids).size).toBe(ids.length)
    },
    90_000,
  )

  it('a shard killed mid-stream restarts from its snapshot: same state hash, no output twice', async () => {
    const prefix = 't-kill'
    const snapshotDir = join(dir, 'snap-kill')
    const stream = randomStream(7n, 'bitmex', 200, 60)
    await createTopics(kafka, P, prefix)
    const coordinator = new CoordinatorRunner({ kafka, partitions: P, prefix })
    const others = [0, 2].map(
      (partition) => new ShardRunner({ kafka, partition, partitions: P, prefix, snapshotDir }),
    )
    await Promise.all([coordinator.start(), ...others.map((s) => s.start())])
    const file = join(snapshotDir, 'shard-1.json')
    const child = (): ChildProcess =>
      cli(prefix, ['--partition', '1', '--snapshot-dir', snapshotDir, '--snapshot-every', '40'])
    // Snapshots are taken between ADL phases only, after what they cover is published.
    const snapProgress = (): Progress => {
      if (!existsSync(file)) return { offset: -1n, lastMark: 0, held: true }
      const { state } = JSON.parse(readFileSync(file, 'utf8')) as ShardSnapshot
      return { offset: BigInt(state.nextOffset), lastMark: state.lastMark, held: false }
    }
    const snapOffset = () => snapProgress().offset
    let shard1 = child()
    // Publish 40 %, wait for shard 1's first snapshots, publish more and kill it while it works.
    const [a, b] = [Math.floor(stream.length * 0.4), Math.floor(stream.length * 0.6)]
    await publish(prefix, stream.slice(0, a))
    const deadline = Date.now() + 60_000
    while (snapOffset() < 100n && Date.now() < deadline) await sleep(50)
    await publish(prefix, stream.slice(a, b))
    // Kill it while it has published past its snapshot (inside an ADL phase, where no snapshot is
    // taken): the restart must then replay inputs whose outputs are already in the topic.
    const out = topics(prefix).output
    const snapEnd = () =>
      BigInt((JSON.parse(readFileSync(file, 'utf8')) as ShardSnapshot).outputEnd!)
    while ((await ends(out))[1]! <= snapEnd() && Date.now() < deadline + 30_000) await sleep(5)
    shard1.kill('SIGKILL')
    await new Promise((r) => shard1.once('exit', r))
    const killedAt = snapOffset()
    const snapAtKill = JSON.parse(readFileSync(file, 'utf8')) as ShardSnapshot
    await publish(prefix, stream.slice(b))
    expect(killedAt).toBeGreaterThan(0n)
    const outBefore = (await ends(topics(prefix).output))[1]!
    shard1 = child()
    const lastMark = Math.max(...stream.map((m) => (m.type === 'mark' ? m.seq : 0)))
    const [s0, s2] = others
    await settle(prefix, () => [progressOf(s0!), snapProgress(), progressOf(s2!)], lastMark)
    shard1.kill('SIGTERM')
    await new Promise((r) => shard1.once('exit', r))
    await Promise.all([coordinator.stop(), ...others.map((s) => s.stop())])

    // The uninterrupted replay of partition 1's log, offline.
    const input = (await readAll(topics(prefix).input))[1]!
    const replay = new ShardCore(1, P)
    const expected: OutputMessage[] = []
    for (const [o, b] of input.entries())
      expected.push(...replay.handle(BigInt(o), decodeInput(b)).outputs)
    const snap = JSON.parse(readFileSync(file, 'utf8')) as ShardSnapshot
    expect(BigInt(snap.state.nextOffset)).toBe(BigInt(input.length))
    expect(snap.stateHash).toBe(replay.stateHash())
    const records = (await readAll(topics(prefix).output))[1]!
    const published = records.map((b) => decode<OutputMessage>(b).id)
    // The first run had published past its last snapshot before it died: the restart replays
    // those inputs and must not publish their outputs again.
    expect(outBefore).toBeGreaterThan(BigInt(snapAtKill.outputEnd!))
    expect(BigInt(published.length)).toBeGreaterThan(outBefore) // and the second went on
    expect(new Set(published).size).toBe(published.length)
    expect([...published].sort()).toEqual(expected.map((x) => x.id).sort())
    // Bit for bit, margin calls and status changes included: each id's record is the replay's.
    const byId = new Map(expected.map((x) => [x.id, JSON.stringify(x)]))
    for (const b of records) expect(b.toString()).toBe(byId.get(decode<OutputMessage>(b).id))
    const kinds = new Set(expected.map((x) => x.type))
    for (const k of ['statusChange', 'marginCall', 'orderVerdict', 'orderCancelled'])
      expect(kinds.has(k as OutputMessage['type']), k).toBe(true)
    // The whole book still equals one engine.
    expect(accountState(replay)).toEqual(
      accountState(reference(stream).core, Object.keys(accountState(replay))),
    )
  }, 120_000)

  it('the coordinator killed inside an ADL round restarts: one engine, no allocation twice', async () => {
    const prefix = 't-coord'
    // Seed 9 deleverages both markets at several marks (BTC's round, then ETH's).
    const stream = randomStream(9n, 'binance', 150, 40)
    const lastMark = Math.max(...stream.map((m) => (m.type === 'mark' ? m.seq : 0)))
    await createTopics(kafka, P, prefix)
    const btcMarks = new Set<number>()
    const shards: ShardRunner[] = []
    let coordinator = cli(prefix, ['--coordinator'])
    const killed = new Promise<void>((done) => {
      let dead = false
      const onOffer = (o: OfferMessage) => {
        // Inside ETH's round of a mark whose BTC allocation is in the log (it precedes the ETH
        // call) and before its adlDone: the restart re-sends that allocation into the open phase.
        if (o.symbol === 'BTC-PERP') btcMarks.add(o.mark)
        if (dead || o.symbol !== 'ETH-PERP' || !btcMarks.has(o.mark)) return
        dead = true
        coordinator.kill('SIGKILL')
        coordinator.once('exit', () => done())
      }
      shards.push(
        ...Array.from(
          { length: P },
          (_, partition) =>
            new ShardRunner({
              kafka: watchingOffers(kafka, onOffer),
              partition,
              partitions: P,
              prefix,
              snapshotDir: join(dir, 'snap-coord'),
            }),
        ),
      )
    })
    await Promise.all(shards.map((s) => s.start()))
    await publish(prefix, stream)
    await killed
    const heldAtKill = shards.some((s) => s.core.held !== null)
    coordinator = cli(prefix, ['--coordinator'])
    await settle(prefix, () => shards.map(progressOf), lastMark)
    coordinator.kill('SIGTERM')
    await new Promise((r) => coordinator.once('exit', r))
    await Promise.all(shards.map((s) => s.stop()))
    expect(heldAtKill).toBe(true)

    const one = reference(stream)
    const sharded = Object.assign({}, ...shards.map((s) => accountState(s.core)))
    expect(sharded).toEqual(accountState(one.core))
    const outputs = (await readAll(topics(prefix).output))
      .flat()
      .map((b) => decode<OutputMessage>(b))
    const [a, b] = [comparable(one.outputs), comparable(outputs)]
    expect(a.adl.length).toBeGreaterThan(3)
    // Each ADL fill once: the same multiset as one engine's, no line twice.
    expect([...b.adl].sort()).toEqual([...a.adl].sort())
    expect(b.liquidations).toEqual(a.liquidations)
    // The restarted coordinator re-sent what it had sent (it re-reads its topic): the shards
    // received allocations twice and applied each once.
    const allocs = (await readAll(topics(prefix).input))[0]!
      .map((x) => decodeInput(x))
      .filter((m) => m.type === 'adlAlloc')
      .map((m) => `${m.mark} ${m.symbol}`)
    expect(new Set(allocs).size).toBeLessThan(allocs.length)
  }, 150_000)
})
