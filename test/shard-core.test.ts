// The shard protocol without a broker (docs/SCALE-OUT.md): three ShardCores and the coordinator
// over in-memory partition logs, scheduled in a random interleaving — the producer, the shards
// and the coordinator each advance at random, so ADL calls land in the logs among later events,
// as they do on Kafka — end with exactly the per-account state, liquidations, ADL fills (ranked
// and pro rata), status changes, margin calls and order outputs of one engine fed the same
// stream; and a shard restored from a mid-stream snapshot replays to the same state hash and
// outputs.
import { describe, expect, it } from 'vitest'
import { CoordinatorCore } from '../src/shard/coordinator.js'
import { ShardCore } from '../src/shard/core.js'
import type { AdlTopicMessage, InputMessage, OutputMessage } from '../src/shard/protocol.js'
import { Rng } from './helpers.js'
import {
  accountState,
  comparable,
  expectStatusesAndOrders,
  randomStream,
  reference,
  targets,
} from './shard-helpers.js'

const P = 3

function simulate(stream: InputMessage[], seed: bigint) {
  const r = new Rng(seed)
  const logs: InputMessage[][] = Array.from({ length: P }, () => [])
  const shards = Array.from({ length: P }, (_, p) => new ShardCore(p, P))
  const read = new Array<number>(P).fill(0)
  const coord = new CoordinatorCore(P)
  const adlTopic: AdlTopicMessage[] = []
  let coordRead = 0
  let produced = 0
  const outputs: OutputMessage[][] = Array.from({ length: P }, () => [])
  const snaps: Array<{ at: number; snap: ReturnType<ShardCore['snapshot']> }> = []
  for (;;) {
    const can = [
      produced < stream.length,
      ...shards.map((_, p) => read[p]! < logs[p]!.length),
      coordRead < adlTopic.length,
    ]
    if (!can.some(Boolean)) break
    const who = r.int(0, P + 1)
    if (!can[who]) continue
    if (who === 0) {
      const m = stream[produced++]!
      for (const p of targets(m, P)) logs[p]!.push(m)
    } else if (who <= P) {
      const p = who - 1
      const off = read[p]!++
      const fx = shards[p]!.handle(BigInt(off), logs[p]![off]!)
      outputs[p]!.push(...fx.outputs)
      adlTopic.push(...fx.toCoordinator)
      if (p === 1 && !shards[p]!.held && r.chance(0.05))
        snaps.push({ at: off + 1, snap: shards[p]!.snapshot() })
    } else {
      for (const m of coord.handle(adlTopic[coordRead++]!)) for (const log of logs) log.push(m)
    }
  }
  return { shards, outputs, logs, coord, snaps }
}

describe('shards over in-memory logs equal one engine', () => {
  it.each(['bitmex', 'binance', 'hyperliquid', 'prorata'] as const)('ranking %s', (ranking) => {
    for (const seed of [11n, 12n]) {
      const stream = randomStream(seed, ranking, 150, 60)
      const one = reference(stream)
      const run = simulate(stream, seed * 7n)
      expect(run.shards.every((s) => !s.held)).toBe(true)
      // Every account, on the shard that owns it, as in the one engine.
      const sharded = Object.assign({}, ...run.shards.map((s) => accountState(s)))
      expect(Object.keys(sharded).length).toBe(150)
      expect(sharded).toEqual(accountState(one.core))
      const a = comparable(one.outputs)
      const b = comparable(run.outputs.flat())
      expect(a.liquidations.length).toBeGreaterThan(20)
      expect(b.liquidations).toEqual(a.liquidations)
      expectStatusesAndOrders(a, b)
      // ADL: the same fills (exact amounts), and in the same merged order.
      expect(a.adl.length).toBeGreaterThan(3)
      expect([...b.adl].sort()).toEqual([...a.adl].sort())
      const order = (lines: string[]) => lines.map((l) => l.split(' ').slice(0, 5).join(' '))
      const merged = run.coord.history.flatMap((h) =>
        h.fills.map((f) => `${h.mark} adlFill ${f.account} ${h.symbol} ${f.qty}`),
      )
      if (ranking !== 'prorata') expect(merged).toEqual(order(a.adl))
      // Pro rata: largest remainders decided some lots (the three-phase round ran in full).
      else expect(run.coord.history.some((h) => (h.bonus ?? []).length > 0)).toBe(true)

      // Restart: a snapshot taken mid-stream, restored and replayed from its offset, reproduces
      // the rest of shard 1's outputs and its final state hash.
      expect(run.snaps.length).toBeGreaterThan(0)
      const { at, snap } = run.snaps[Math.floor(run.snaps.length / 2)]!
      const again = ShardCore.restore(JSON.parse(JSON.stringify(snap)))
      const replayed: OutputMessage[] = []
      for (let o = at; o < run.logs[1]!.length; o++)
        replayed.push(...again.handle(BigInt(o), run.logs[1]![o]!).outputs)
      expect(again.stateHash()).toBe(run.shards[1]!.stateHash())
      const tail = run.outputs[1]!.filter((x) => Number(x.id.split(':')[1]) >= at)
      expect(replayed).toEqual(tail)
    }
  })
})

describe('deleverage shard (the command, without a broker)', () => {
  it('is registered in the CLI and explains itself; a missing --brokers is a usage error', async () => {
    const { main } = await import('../src/cli.js')
    const logs: string[] = []
    const [log, error, write] = [console.log, console.error, process.stdout.write]
    console.log = (s: string) => logs.push(s)
    console.error = (s: string) => logs.push(s)
    // the COMMANDS table prints a command's --help to stdout itself
    process.stdout.write = ((s: string) => logs.push(s) > 0) as typeof process.stdout.write
    try {
      expect(await main(['shard', '--help'])).toBe(0)
      expect(logs.join('\n')).toContain('--snapshot-dir')
      expect(await main(['shard', '--partition', '0', '--partitions', '3'])).toBe(2)
      expect(logs.join('\n')).toContain('--brokers is required')
      expect(await main(['shard', '--brokers', 'x:1', '--partitions', '0'])).toBe(2)
    } finally {
      console.log = log
      console.error = error
      process.stdout.write = write
    }
  })
})
