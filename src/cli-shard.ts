// How the CLI registers `deleverage shard` (docs/SCALE-OUT.md): its options in the COMMANDS table,
// so they are parsed strictly and listed in its help like every command's. The runner itself is
// src/shard/cli.ts, loaded only when the command runs (the CLI never loads a Kafka client else);
// it takes the options as its own argv, rebuilt from the parsed values.

import { type Command, commandHelp, type Options, type Parsed } from './cli-args.js'

const SHARD_OPTIONS: Options = {
  brokers: { type: 'string', value: 'HOST:PORT[,…]', help: 'the Kafka brokers (required)' },
  partition: { type: 'string', value: 'N', help: 'run risk shard N (input partition N)' },
  partitions: { type: 'string', value: 'P', help: 'partitions of the input topic (required)' },
  'snapshot-dir': {
    type: 'string',
    value: 'DIR',
    help: 'where the shard restores from and writes snapshots (default .)',
  },
  coordinator: { type: 'boolean', help: 'run the ADL coordinator (<prefix>.adl.v1) instead' },
  prefix: { type: 'string', value: 'NAME', help: 'topic prefix (default risk)' },
  'snapshot-every': {
    type: 'string',
    value: 'N',
    help: 'snapshot after N input messages (default 1000) and whenever idle',
  },
  'create-topics': {
    type: 'boolean',
    help: 'create the three topics first (P partitions; ADL topic 1)',
  },
  client: {
    type: 'string',
    value: 'kafkajs|confluent',
    help: 'the KafkaJS-shaped client (default kafkajs; see SCALE-OUT.md)',
  },
  implementation: { type: 'string', value: 'native|js|auto', help: 'the engine (default auto)' },
}

/** The runner's argv from the parsed options (`--name value`, a flag alone). */
function argvOf(p: Parsed): string[] {
  return Object.entries(p.values).flatMap(([name, v]) =>
    v === true ? [`--${name}`] : typeof v === 'string' ? [`--${name}`, v] : [],
  )
}

export const SHARD_COMMAND: Command = {
  name: 'shard',
  summary: `Run one risk shard, or the ADL coordinator, against a Kafka cluster
(docs/SCALE-OUT.md). Stops on SIGINT/SIGTERM.`,
  options: SHARD_OPTIONS,
  positionals: [],
  help: commandHelp({
    name: 'shard',
    positionals: [],
    required: ['brokers', 'partitions'],
    about: `Run risk shard N of P on the input topic <prefix>.in.v1 (keyed by account with Kafka's default
partitioner), publishing to <prefix>.out.v1 partition N, restoring from and writing snapshots
to DIR; or, with --coordinator, the ADL coordinator (<prefix>.adl.v1). Stops on SIGINT/SIGTERM.`,
    options: SHARD_OPTIONS,
    examples: [
      'deleverage shard --brokers localhost:9092 --partition 0 --partitions 3 --snapshot-dir /var/lib/risk',
      'deleverage shard --brokers localhost:9092 --coordinator --partitions 3',
    ],
  }),
  run: (p) => import('./shard/cli.js').then((m) => m.shardMain(argvOf(p))),
}
