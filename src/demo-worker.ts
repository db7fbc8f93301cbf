// One policy run of `deleverage demo` in a worker thread (src/demo.ts): build the seeded book,
// simulate, post progress and the result back.
import { parentPort, workerData } from 'node:worker_threads'
import { runDemoPolicy } from './demo.js'

const { policy, positions, accounts, implementation } = workerData as {
  policy: Parameters<typeof runDemoPolicy>[0]
  positions: number
  accounts: number
  implementation: 'native' | 'js' | undefined
}
const run = runDemoPolicy(policy, positions, accounts, implementation, (d) =>
  parentPort!.postMessage({ progress: d }),
)
parentPort!.postMessage(run)
