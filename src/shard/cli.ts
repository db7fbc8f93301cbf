// `deleverage shard`: run one risk shard, or the ADL coordinator, against a Kafka cluster
// (docs/SCALE-OUT.md). Loaded only by that command, so the library never loads a Kafka client.

import { CoordinatorRunner, ShardRunner, createKafka, createTopics } from './kafka.js'

export const SHARD_HELP = `deleverage shard --brokers HOST:PORT[,…] --partition N --partitions P --snapshot-dir DIR
deleverage shard --brokers HOST:PORT[,…] --coordinator --partitions P

  Run risk shard N of P on the input topic <prefix>.in.v1 (keyed by account with Kafka's default
  partitioner), publishing to <prefix>.out.v1 partition N, restoring from and writing snapshots
  to DIR; or the ADL coordinator (<prefix>.adl.v1). Stops on SIGINT/SIGTERM.

  --prefix NAME            topic prefix (default risk)
  --snapshot-every N       snapshot after N input messages (default 1000) and whenever idle
  --create-topics          create the three topics first (P partitions; ADL topic 1)
  --client kafkajs|confluent   the KafkaJS-shaped client (default kafkajs; see SCALE-OUT.md)
  --implementation native|js|auto`

function options(argv: string[]): Map<string, string> {
  const o = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    if (a === '--coordinator' || a === '--create-topics' || a === '--help') o.set(a, 'yes')
    else if (i + 1 < argv.length) o.set(a, argv[++i]!)
    else throw new Error(`${a} needs a value`)
  }
  return o
}

function count(o: Map<string, string>, name: string, min: number): number {
  const v = Number(o.get(name))
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}`)
  return v
}

export async function shardMain(argv: string[]): Promise<number> {
  let o: Map<string, string>
  try {
    o = options(argv)
    if (o.has('--help')) {
      console.log(SHARD_HELP)
      return 0
    }
    if (!o.get('--brokers')) throw new Error('--brokers is required')
    count(o, '--partitions', 1)
  } catch (e) {
    console.error(`deleverage shard: ${(e as Error).message}\n\n${SHARD_HELP}`)
    return 2
  }
  const client = o.get('--client') === 'confluent' ? 'confluent' : 'kafkajs'
  const kafka = createKafka(o.get('--brokers')!.split(','), 'deleverage-shard', client)
  const partitions = count(o, '--partitions', 1)
  const prefix = o.get('--prefix') ?? 'risk'
  if (o.has('--create-topics')) await createTopics(kafka, partitions, prefix)
  const runner = o.has('--coordinator')
    ? new CoordinatorRunner({ kafka, partitions, prefix })
    : new ShardRunner({
        kafka,
        partitions,
        prefix,
        partition: count(o, '--partition', 0),
        snapshotDir: o.get('--snapshot-dir') ?? '.',
        snapshotEvery: o.has('--snapshot-every') ? count(o, '--snapshot-every', 1) : undefined,
        implementation: (o.get('--implementation') as 'native' | 'js' | undefined) ?? 'auto',
        onFailed: (e) => {
          console.error('deleverage shard: stopping:', e)
          process.exit(1)
        },
      })
  await runner.start()
  console.error(
    `deleverage shard: running (${o.has('--coordinator') ? 'coordinator' : `partition ${o.get('--partition')}`})`,
  )
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await runner.stop()
  return 0
}
