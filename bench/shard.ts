// Shards on a real Kafka broker (docs/SCALE-OUT.md §6): `npm run bench:shard`. Starts a KRaft
// broker with scripts/kafka.sh on this machine — the broker, the shards and the coordinator share
// its cores — and measures
//   1. messages per second through one shard (fills, orders and marks; outputs published, status
//      changes and margin calls included),
//   2. latency from publishing a mark to receiving its first liquidation order (p50/p99),
//   3. the cross-shard ADL round: a mark that takes over a position in one of 3 shards, until
//      every ADL fill of the merged queue is published — ranked (one round trip) and pro rata
//      (three phases).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CoordinatorRunner,
  ShardRunner,
  createKafka,
  createTopics,
  inputRecords,
  type KafkaLike,
} from '../src/shard/kafka.js'
import { decode, topics, type InputMessage, type OutputMessage } from '../src/shard/protocol.js'
import { setupMessage } from '../test/shard-helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'deleverage-kafka-bench-'))
const port = 20000 + Math.floor(Math.random() * 20000)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!

async function send(kafka: KafkaLike, prefix: string, msgs: InputMessage[], P: number) {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await p.connect()
  for (let i = 0; i < msgs.length; i += 5000)
    await p.send({
      topic: topics(prefix).input,
      messages: inputRecords(msgs.slice(i, i + 5000), P),
    })
  await p.disconnect()
}

/** Accounts long BTC at 30000 with margin for a ladder of liquidation prices below. */
function book(n: number): InputMessage[] {
  const out: InputMessage[] = [setupMessage('bitmex')]
  for (let i = 0; i < n; i++) {
    const account = `acct-${i}`
    out.push({ v: 1, type: 'transfer', account, amount: `${300 + (i % 700)}` })
    out.push({ v: 1, type: 'fill', account, symbol: 'BTC-PERP', qty: '0.1', price: '30000.0' })
    out.push({
      v: 1,
      type: 'fill',
      account: `short-${i % 50}`,
      symbol: 'BTC-PERP',
      qty: '-0.1',
      price: '30000.0',
    })
  }
  for (let i = 0; i < 50; i++)
    out.splice(1, 0, { v: 1, type: 'transfer', account: `short-${i}`, amount: '100000' })
  return out
}

async function throughput(kafka: KafkaLike): Promise<string> {
  const prefix = 'b-tput'
  await createTopics(kafka, 1, prefix)
  const msgs = book(2000)
  let seq = 0
  for (let k = 0; k < 20_000; k++) {
    const i = k % 2000
    msgs.push({
      v: 1,
      type: 'fill',
      account: `acct-${i}`,
      symbol: 'BTC-PERP',
      qty: k % 2 ? '0.001' : '-0.001',
      price: '30000.0',
    })
    // Orders over the log: one order per 10 fills, half of them cancelled later.
    if (k % 10 === 9)
      msgs.push({
        v: 1,
        type: 'placeOrders',
        account: `acct-${i}`,
        orders: [{ ref: `o${k}`, symbol: 'BTC-PERP', side: 'buy', qty: '0.01', price: '29000.0' }],
      })
    if (k % 20 === 19)
      msgs.push({
        v: 1,
        type: 'cancelOrders',
        account: `acct-${(k - 10) % 2000}`,
        refs: [`o${k - 10}`],
      })
    if (k % 100 === 99)
      msgs.push({ v: 1, type: 'mark', seq: ++seq, marks: { 'BTC-PERP': `${30000 - (k % 7)}.0` } })
  }
  await send(kafka, prefix, msgs, 1)
  const coordinator = new CoordinatorRunner({ kafka, partitions: 1, prefix })
  let outputs = 0
  const byType = new Map<string, number>()
  const shard = new ShardRunner({
    kafka,
    partition: 0,
    partitions: 1,
    prefix,
    snapshotDir: join(dir, 'tput'),
    onPublished: (_, o) => {
      outputs += o.length
      for (const x of o) byType.set(x.type, (byType.get(x.type) ?? 0) + 1)
    },
  })
  await coordinator.start()
  const t0 = performance.now()
  await shard.start()
  const progress = setInterval(() => {
    if (process.env.BENCH_DEBUG)
      console.error(
        'progress',
        shard.core.state.nextOffset,
        shard.core.held?.mark,
        shard.core.held?.buffer.length,
        coordinator.core.doneMark,
      )
  }, 1000)
  // Done when every message is applied, not just read: each mark adds the coordinator's adlDone.
  const end = BigInt(msgs.length + seq)
  while (
    BigInt(shard.core.state.nextOffset) < end ||
    shard.core.held ||
    coordinator.core.doneMark < seq
  )
    await sleep(5)
  clearInterval(progress)
  const s = (performance.now() - t0) / 1000
  await Promise.all([shard.stop(), coordinator.stop()])
  const types = [...byType].map(([t, n]) => `${t} ${n}`).join(', ')
  return `1. one shard: ${msgs.length} input messages (${seq} marks, each an ADL barrier round trip; orders and cancels included) in ${s.toFixed(2)} s = ${Math.round(msgs.length / s)} msg/s, ${outputs} outputs published (${types}; incl. startup and group join)`
}

/** Outputs as they arrive, with their arrival time. */
async function watch(kafka: KafkaLike, prefix: string, on: (o: OutputMessage, t: number) => void) {
  const c = kafka.consumer({ groupId: `${prefix}-watch`, maxWaitTimeInMs: 5 })
  await c.connect()
  await c.subscribe({ topic: topics(prefix).output, fromBeginning: true })
  await c.run({
    eachBatch: async ({ batch }) => {
      const t = performance.now()
      for (const m of batch.messages) on(decode<OutputMessage>(m.value), t)
    },
  })
  return c
}

async function latency(kafka: KafkaLike): Promise<string> {
  const prefix = 'b-lat'
  await createTopics(kafka, 1, prefix)
  await send(kafka, prefix, book(2000), 1)
  const coordinator = new CoordinatorRunner({ kafka, partitions: 1, prefix })
  const shard = new ShardRunner({
    kafka,
    partition: 0,
    partitions: 1,
    prefix,
    snapshotDir: join(dir, 'lat'),
  })
  const first = new Map<number, number>()
  const c = await watch(kafka, prefix, (o, t) => {
    if (o.type === 'liquidationOrder' && !first.has(o.mark!)) first.set(o.mark!, t)
  })
  await Promise.all([coordinator.start(), shard.start()])
  while (BigInt(shard.core.state.nextOffset) < 6051n) await sleep(20)
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await p.connect()
  const sent = new Map<number, number>()
  // Each step down crosses a few accounts' liquidation prices (margins 300…999 on 0.1 BTC).
  for (let seq = 1; seq <= 200; seq++) {
    const px = (30000 - 2990 - seq * 30).toFixed(1)
    sent.set(seq, performance.now())
    await p.send({
      topic: topics(prefix).input,
      messages: inputRecords([{ v: 1, type: 'mark', seq, marks: { 'BTC-PERP': px } }], 1),
    })
    const t = performance.now()
    while (!first.has(seq) && performance.now() - t < 5000) await sleep(1)
  }
  const lat = [...first].map(([s, t]) => t - sent.get(s)!)
  await Promise.all([p.disconnect(), c.disconnect(), shard.stop(), coordinator.stop()])
  return `2. mark → first liquidation order received: ${lat.length} marks, p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`
}

async function adlRound(kafka: KafkaLike, ranking: 'bitmex' | 'prorata'): Promise<string> {
  const prefix = `b-adl-${ranking}`
  const P = 3
  await createTopics(kafka, P, prefix)
  const coordinator = new CoordinatorRunner({ kafka, partitions: P, prefix })
  const shards = [0, 1, 2].map(
    (partition) =>
      new ShardRunner({
        kafka,
        partition,
        partitions: P,
        prefix,
        snapshotDir: join(dir, prefix),
      }),
  )
  const adl = new Map<number, number>()
  const fills = new Map<number, number>()
  const c = await watch(kafka, prefix, (o, t) => {
    if (o.type === 'event' && o.kind === 'adlFill') {
      adl.set(o.mark!, t)
      fills.set(o.mark!, (fills.get(o.mark!) ?? 0) + 1)
    }
  })
  await Promise.all([coordinator.start(), ...shards.map((s) => s.start())])
  const setup: InputMessage[] = [setupMessage(ranking)]
  for (let i = 0; i < 300; i++) {
    setup.push({ v: 1, type: 'transfer', account: `s-${i}`, amount: '5000' })
    setup.push({
      v: 1,
      type: 'fill',
      account: `s-${i}`,
      symbol: 'BTC-PERP',
      qty: `-${(0.01 + (i % 17) / 100).toFixed(3)}`,
      price: `${29000 + i}.0`,
    })
  }
  await send(kafka, prefix, setup, P)
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await p.connect()
  const rounds: number[] = []
  let price = 30000
  for (let seq = 1; seq <= 40; seq++) {
    // A new long at 10x each round while the mark steps down 1.5 %: older longs fall through their
    // liquidation prices, the bankrupt ones are taken over and ADL'd across the 3 shards.
    const account = `l-${seq}`
    await p.send({
      topic: topics(prefix).input,
      messages: inputRecords(
        [
          { v: 1, type: 'transfer', account, amount: '3000' },
          { v: 1, type: 'fill', account, symbol: 'BTC-PERP', qty: '1', price: `${price}.0` },
          { v: 1, type: 'mark', seq: 2 * seq - 1, marks: { 'BTC-PERP': `${price}.0` } },
        ],
        P,
      ),
    })
    await sleep(50)
    price = Math.round(price * 0.985)
    const t0 = performance.now()
    await p.send({
      topic: topics(prefix).input,
      messages: inputRecords(
        [{ v: 1, type: 'mark', seq: 2 * seq, marks: { 'BTC-PERP': `${price}.0` } }],
        P,
      ),
    })
    while (coordinator.core.doneMark < 2 * seq && performance.now() - t0 < 10_000) await sleep(1)
    await sleep(30)
    if (adl.has(2 * seq)) rounds.push(adl.get(2 * seq)! - t0)
  }
  const n = [...fills.values()]
  await Promise.all([
    p.disconnect(),
    c.disconnect(),
    coordinator.stop(),
    ...shards.map((s) => s.stop()),
  ])
  const phases = ranking === 'prorata' ? ': 3 phases' : ''
  return `3. cross-shard ADL (3 shards, ${ranking}${phases}): mark → last ADL fill received, ${rounds.length} rounds (${Math.min(...n)}–${Math.max(...n)} fills each): p50 ${pct(rounds, 50).toFixed(1)} ms, p99 ${pct(rounds, 99).toFixed(1)} ms`
}

async function main() {
  execFileSync(
    'bash',
    [join(root, 'scripts/kafka.sh'), 'start', join(dir, 'broker'), String(port)],
    { stdio: 'inherit' },
  )
  const stopBroker = () =>
    execFileSync('bash', [join(root, 'scripts/kafka.sh'), 'stop', join(dir, 'broker')])
  // A stuck step must not leave the broker running.
  setTimeout(() => {
    console.error('bench:shard: timed out')
    stopBroker()
    process.exit(1)
  }, 420_000).unref()
  try {
    const kafka = createKafka([`127.0.0.1:${port}`], 'deleverage-bench')
    console.log(
      `Kafka 4.4.0 KRaft broker (-Xmx512m) on 127.0.0.1, sharing this machine's cores with the shards`,
    )
    console.log(
      `load average before: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    )
    console.log(await throughput(kafka))
    console.log(await latency(kafka))
    console.log(await adlRound(kafka, 'bitmex'))
    console.log(await adlRound(kafka, 'prorata'))
    console.log(
      `load average after: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    )
  } finally {
    stopBroker()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
