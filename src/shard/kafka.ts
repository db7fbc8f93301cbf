// The shard runner and the ADL coordinator on Apache Kafka (docs/SCALE-OUT.md). The client is
// written against the KafkaJS-shaped API (the subset below), loaded at run time: `kafkajs` (pure
// JavaScript) by default, or `@confluentinc/kafka-javascript`'s KafkaJS-compatible API on
// librdkafka with `client: 'confluent'`. Neither is a dependency of the library: only this entry
// point loads one, and says which package to install when it is missing.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nativeRequire } from '../native-require.cjs'
import { CoordinatorCore } from './coordinator.js'
import { ShardCore, type ShardSnapshot } from './core.js'
import {
  decode,
  decodeInput,
  encode,
  partitionOf,
  topics,
  type AdlTopicMessage,
  type InputMessage,
  type OutputMessage,
} from './protocol.js'

// ---- the client interface (a subset of KafkaJS's) ---------------------------------------------

export interface KafkaMessage {
  offset: string
  key?: Buffer | null
  value: Buffer | null
}
export interface Batch {
  topic: string
  partition: number
  highWatermark: string
  messages: KafkaMessage[]
}
export interface ProducerLike {
  connect(): Promise<void>
  disconnect(): Promise<void>
  send(r: {
    topic: string
    messages: Array<{ key?: string | null; value: Buffer; partition?: number }>
  }): Promise<Array<{ partition: number; baseOffset?: string }>>
}
export interface ConsumerLike {
  connect(): Promise<void>
  disconnect(): Promise<void>
  subscribe(s: { topic: string; fromBeginning?: boolean }): Promise<void>
  run(r: {
    autoCommit?: boolean
    eachBatchAutoResolve?: boolean
    eachBatch: (p: {
      batch: Batch
      heartbeat(): Promise<void>
      resolveOffset(offset: string): void
    }) => Promise<void>
  }): Promise<void>
  seek(s: { topic: string; partition: number; offset: string }): void
  pause(t: Array<{ topic: string; partitions?: number[] }>): void
}
export interface AdminLike {
  connect(): Promise<void>
  disconnect(): Promise<void>
  createTopics(o: {
    topics: Array<{ topic: string; numPartitions: number; replicationFactor?: number }>
    waitForLeaders?: boolean
  }): Promise<boolean>
  fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; high: string }>>
}
export interface KafkaLike {
  producer(o?: Record<string, unknown>): ProducerLike
  consumer(o: { groupId: string } & Record<string, unknown>): ConsumerLike
  admin(): AdminLike
}

/** A client for `brokers`: kafkajs (default) or @confluentinc/kafka-javascript's KafkaJS API. */
export function createKafka(
  brokers: string[],
  clientId = 'deleverage-shard',
  client: 'kafkajs' | 'confluent' = 'kafkajs',
): KafkaLike {
  const pkg = client === 'kafkajs' ? 'kafkajs' : '@confluentinc/kafka-javascript'
  let mod: Record<string, unknown>
  try {
    mod = nativeRequire(pkg) as Record<string, unknown>
  } catch (e) {
    throw new Error(`the shard runner needs the ${pkg} package: npm install ${pkg}`, { cause: e })
  }
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1'
  if (client === 'confluent') {
    const K = (mod.KafkaJS as { Kafka: new (c: unknown) => KafkaLike }).Kafka
    return new K({ kafkaJS: { brokers, clientId, logLevel: 1 } })
  }
  const K = mod.Kafka as new (c: unknown) => KafkaLike
  return new K({ brokers, clientId, logLevel: 1, retry: { retries: 8 } })
}

/** Create the three topics (input and output with `partitions` partitions, ADL with one). */
export async function createTopics(
  kafka: KafkaLike,
  partitions: number,
  prefix = 'risk',
): Promise<void> {
  const t = topics(prefix)
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: t.input, numPartitions: partitions, replicationFactor: 1 },
        { topic: t.output, numPartitions: partitions, replicationFactor: 1 },
        { topic: t.adl, numPartitions: 1, replicationFactor: 1 },
      ],
    })
    // Leaders can lag creation: ready when every partition answers an offsets request.
    for (const topic of [t.input, t.output, t.adl])
      await retrying(() => admin.fetchTopicOffsets(topic))
  } finally {
    await admin.disconnect()
  }
}

/** `f`, retried for up to 30 s while the cluster settles (e.g. NOT_LEADER right after creation). */
async function retrying<T>(f: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await f()
    } catch (e) {
      if (tries >= 100) throw e
      await new Promise((r) => setTimeout(r, 300))
    }
  }
}

/** Kafka records for input messages: keyed ones to their account's partition, the rest to all. */
export function inputRecords(
  msgs: InputMessage[],
  partitions: number,
): Array<{ key: string | null; value: Buffer; partition: number }> {
  const out: Array<{ key: string | null; value: Buffer; partition: number }> = []
  for (const m of msgs) {
    const value = encode(m)
    if ('account' in m)
      out.push({ key: m.account, value, partition: partitionOf(m.account, partitions) })
    else for (let p = 0; p < partitions; p++) out.push({ key: null, value, partition: p })
  }
  return out
}

/**
 * Consume exactly one partition of `topic` from `offset`: a consumer group of its own (never
 * committed: positions come from snapshots), every other partition paused.
 */
async function consumePartition(
  kafka: KafkaLike,
  groupId: string,
  topic: string,
  partition: number,
  offset: string,
  onBatch: (b: Batch, heartbeat: () => Promise<void>) => Promise<void>,
): Promise<ConsumerLike> {
  const c = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 20,
  })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  let sought = false
  await c.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, heartbeat, resolveOffset }) => {
      if (batch.partition !== partition) {
        c.pause([{ topic, partitions: [batch.partition] }])
        return
      }
      if (!sought) return // the seek below has not taken effect yet
      await onBatch(batch, heartbeat)
      // The fetch position only (autoCommit is off): without it the batch is fetched again.
      const last = batch.messages[batch.messages.length - 1]
      if (last) resolveOffset(last.offset)
    },
  })
  // run() can return before the group is joined, and seek() refuses until it is.
  for (let tries = 0; ; tries++) {
    try {
      c.seek({ topic, partition, offset })
      break
    } catch (e) {
      if (tries > 600) throw e
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  sought = true
  return c
}

/** The ids already in `partition` of the output topic from `offset` on (for de-duplication). */
async function idsFrom(
  kafka: KafkaLike,
  topic: string,
  partition: number,
  offset: string,
  groupId: string,
): Promise<Set<string>> {
  const admin = kafka.admin()
  await admin.connect()
  const high = BigInt(
    (await retrying(() => admin.fetchTopicOffsets(topic))).find((o) => o.partition === partition)
      ?.high ?? '0',
  )
  await admin.disconnect()
  const ids = new Set<string>()
  if (BigInt(offset) >= high) return ids
  let done!: () => void
  const finished = new Promise<void>((r) => {
    done = r
  })
  const c = await consumePartition(kafka, groupId, topic, partition, offset, async (b) => {
    for (const m of b.messages) {
      if (BigInt(m.offset) < BigInt(offset)) continue
      ids.add(decode<OutputMessage>(m.value).id)
      if (BigInt(m.offset) + 1n >= high) done()
    }
  })
  await finished
  await c.disconnect()
  return ids
}

export interface ShardOptions {
  kafka: KafkaLike
  partition: number
  partitions: number
  snapshotDir: string
  prefix?: string
  /** Snapshot after this many input messages (default 1000), and whenever caught up and idle. */
  snapshotEvery?: number
  implementation?: 'native' | 'js' | 'auto'
  /** Called after each batch is published (tests, benchmark). */
  onPublished?: (core: ShardCore, outputs: OutputMessage[]) => void
  /** A publish or a message failed; the runner has stopped processing (the CLI exits). */
  onFailed?: (e: unknown) => void
}

/** One shard: restore, seek, replay, publish. `stop()` ends it (a crash is just the process dying). */
export class ShardRunner {
  core!: ShardCore
  private consumer: ConsumerLike | null = null
  private producer: ProducerLike | null = null
  private outputEnd = 0n
  private sinceSnapshot = 0
  private lastSnapshotMs = 0
  /** A batch is being applied or published: no snapshot may be taken meanwhile. */
  private busy = false
  private idleTimer: NodeJS.Timeout | null = null
  /** The input offset up to which every output and ADL message is published (tests, CLI). */
  published = 0n

  constructor(private readonly o: ShardOptions) {}

  private get file(): string {
    return join(this.o.snapshotDir, `shard-${this.o.partition}.json`)
  }

  async start(): Promise<void> {
    const { kafka, partition, partitions } = this.o
    const t = topics(this.o.prefix)
    mkdirSync(this.o.snapshotDir, { recursive: true })
    let snap: ShardSnapshot | null = null
    try {
      snap = JSON.parse(readFileSync(this.file, 'utf8')) as ShardSnapshot
    } catch {
      snap = null
    }
    this.core = snap
      ? ShardCore.restore(snap, this.o.implementation)
      : new ShardCore(partition, partitions, this.o.implementation)
    // What a previous run published after its snapshot is not published again.
    const group = `${this.o.prefix ?? 'risk'}.shard.${partition}`
    const seen = await idsFrom(kafka, t.output, partition, snap?.outputEnd ?? '0', `${group}.dedup`)
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await this.producer.connect()
    this.consumer = await consumePartition(
      kafka,
      group,
      t.input,
      partition,
      this.core.state.nextOffset,
      (b, hb) => this.batch(b, seen, hb),
    )
  }

  /** Set when a publish failed: the shard stops (its state ran ahead of what was published);
   * a restart resumes from the snapshot and de-duplicates, as after a crash. */
  failed: unknown = null

  /** Batches one after another, even when a consumer restarted by the client delivers again
   * while the previous run's batch is still publishing. */
  private last: Promise<void> = Promise.resolve()

  private batch(b: Batch, seen: Set<string>, hb: () => Promise<void>): Promise<void> {
    const next = this.last.then(() => this.batchNow(b, seen, hb))
    this.last = next
    return next
  }

  private async batchNow(b: Batch, seen: Set<string>, hb: () => Promise<void>): Promise<void> {
    if (this.failed) return
    this.busy = true
    try {
      await this.process(b, seen, hb)
    } catch (e) {
      this.failed = e
      this.o.onFailed?.(e)
    } finally {
      this.busy = false
    }
  }

  private async process(b: Batch, seen: Set<string>, hb: () => Promise<void>): Promise<void> {
    const t = topics(this.o.prefix)
    const outputs: OutputMessage[] = []
    const adl: AdlTopicMessage[] = []
    for (const m of b.messages) {
      const off = BigInt(m.offset)
      if (off < BigInt(this.core.state.nextOffset)) continue
      const fx = this.core.handle(off, decodeInput(m.value))
      for (const x of fx.outputs) if (!seen.delete(x.id)) outputs.push(x)
      adl.push(...fx.toCoordinator)
      // Long batches (a replay, a released ADL phase) must not cost the group membership. A
      // failed heartbeat (a rebalance) must not abandon the batch: its effects are applied and
      // still to be published; the group re-joins after it, and re-delivery is skipped by offset.
      if (++this.sinceSnapshot % 2000 === 0) await hb().catch(() => undefined)
    }
    const p = this.producer!
    if (adl.length > 0)
      await p.send({ topic: t.adl, messages: adl.map((x) => ({ value: encode(x), partition: 0 })) })
    if (outputs.length > 0) {
      const r = await p.send({
        topic: t.output,
        messages: outputs.map((x) => ({
          key: x.id,
          value: encode(x),
          partition: this.o.partition,
        })),
      })
      this.outputEnd = BigInt(r[0]?.baseOffset ?? '0') + BigInt(outputs.length)
    }
    this.published = BigInt(this.core.state.nextOffset)
    this.o.onPublished?.(this.core, outputs)
    const caughtUp = BigInt(this.core.state.nextOffset) >= BigInt(b.highWatermark)
    const every = this.o.snapshotEvery ?? 1000
    const idle = caughtUp && Date.now() - this.lastSnapshotMs > 200
    if (!this.core.held && (this.sinceSnapshot >= every || idle)) this.writeSnapshot()
    else if (caughtUp) this.snapshotWhenIdle()
  }

  /** Caught up but snapshotted less than 200 ms ago: snapshot later if nothing else arrives, so
   * the last batch of a burst is never left out of the snapshot. */
  private snapshotWhenIdle(): void {
    if (this.idleTimer) return
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null
      if (this.busy || this.failed || this.core.held || this.sinceSnapshot === 0) return
      this.writeSnapshot()
    }, 250)
    this.idleTimer.unref()
  }

  /** Atomically: write a new file, then rename it over the old one. */
  private writeSnapshot(): void {
    const s: ShardSnapshot = { ...this.core.snapshot(), outputEnd: this.outputEnd.toString() }
    writeFileSync(`${this.file}.tmp`, JSON.stringify(s))
    renameSync(`${this.file}.tmp`, this.file)
    this.sinceSnapshot = 0
    this.lastSnapshotMs = Date.now()
  }

  async stop(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = null
    await this.consumer?.disconnect()
    await this.producer?.disconnect()
  }
}

/** The ADL coordinator: the one reader of the ADL topic, the one writer of ADL messages. */
export class CoordinatorRunner {
  core: CoordinatorCore
  private consumer: ConsumerLike | null = null
  private producer: ProducerLike | null = null

  constructor(private readonly o: { kafka: KafkaLike; partitions: number; prefix?: string }) {
    this.core = new CoordinatorCore(o.partitions)
  }

  async start(): Promise<void> {
    const t = topics(this.o.prefix)
    this.producer = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await this.producer.connect()
    // Its state is a function of its topic: a restart re-reads it from the start, and the
    // shards ignore what they already applied (SCALE-OUT.md §4).
    this.consumer = await consumePartition(
      this.o.kafka,
      `${this.o.prefix ?? 'risk'}.coordinator`,
      t.adl,
      0,
      '0',
      async (b) => {
        const out: InputMessage[] = []
        for (const m of b.messages) out.push(...this.core.handle(decode<AdlTopicMessage>(m.value)))
        if (out.length > 0)
          await this.producer!.send({
            topic: t.input,
            messages: inputRecords(out, this.o.partitions),
          })
      },
    )
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect()
    await this.producer?.disconnect()
  }
}
