// Random operation sequences for the state-machine and journal tests: every mutating CoreEngine
// operation, valid and invalid, on a small book of a linear and an inverse market.
import fc from 'fast-check'
import { Engine } from '../src/index.js'
import { CROSS, FLAG_COST_BASIS, FLAG_ISOLATED, type CoreEngine } from '../src/core.js'

export const USD = 100_000_000n

export type Op =
  | { k: 'addAccount'; id: number; balance: bigint }
  | { k: 'removeAccount'; a: number }
  | { k: 'setBalance'; a: number; balance: bigint }
  | {
      k: 'setPosition'
      a: number
      m: number
      qty: bigint
      entryPct: bigint
      iso: bigint | null
      costBasis: boolean
    }
  | { k: 'mark'; m: number; pct: bigint }
  | { k: 'watchMarks'; m: number; pct: bigint }
  | { k: 'applyFill'; a: number; m: number; qty: bigint; pricePct: bigint }
  | { k: 'deposit'; amount: bigint; now: bigint }
  | { k: 'run'; impact: boolean; now: bigint }
  | { k: 'fill'; a: number; iso: boolean; m: number; frac: bigint; pricePct: bigint }
  | { k: 'takeOver'; a: number; iso: number | null }
  | { k: 'engineFill'; m: number; frac: bigint; pricePct: bigint }
  | { k: 'adl'; m: number }
  | { k: 'socialise'; m: number; amount: bigint; a: number }
  | { k: 'funding'; m: number; rate: bigint }
  | {
      k: 'configure'
      fee: bigint
      buffer: bigint
      ranking: number
      atMark: boolean
      drawdown: [bigint, bigint, bigint] | null
    }

const acct = fc.integer({ min: 0, max: 6 }) // some beyond the accounts that exist: rejected
const mkt = fc.integer({ min: 0, max: 2 }) // market 2 does not exist
const big = (min: bigint, max: bigint) => fc.bigInt({ min, max })

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('addAccount' as const),
      id: fc.integer({ min: 0, max: 7 }),
      balance: fc.oneof(big(-10n * USD, 1_000n * USD), big(0n, 100_000n * USD)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('removeAccount' as const), a: acct }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('setBalance' as const),
      a: acct,
      balance: big(-1_000n * USD, 50_000n * USD),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('setPosition' as const),
      a: acct,
      m: mkt,
      qty: big(-20_000n, 20_000n),
      entryPct: fc.oneof(fc.constant(100n), big(50n, 150n), fc.constant(0n)),
      iso: fc.option(big(0n, 2_000_000n), { nil: null }),
      costBasis: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('mark' as const),
      m: mkt,
      pct: fc.oneof(
        { weight: 4, arbitrary: big(96n, 104n) },
        { weight: 2, arbitrary: big(80n, 120n) },
        { weight: 1, arbitrary: big(40n, 160n) },
        { weight: 1, arbitrary: fc.constant(0n) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('watchMarks' as const),
      m: mkt,
      pct: fc.oneof(
        { weight: 4, arbitrary: big(96n, 104n) },
        { weight: 1, arbitrary: big(60n, 140n) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('applyFill' as const),
      a: acct,
      m: mkt,
      qty: big(-20_000n, 20_000n),
      pricePct: big(90n, 110n),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('deposit' as const),
      amount: big(-USD, 1_000n * USD),
      now: big(0n, 50n),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('run' as const),
      impact: fc.boolean(),
      now: big(0n, 50n),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('fill' as const),
      a: acct,
      iso: fc.boolean(),
      m: mkt,
      frac: big(0n, 5n),
      pricePct: big(50n, 150n),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('takeOver' as const),
      a: acct,
      iso: fc.option(mkt, { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('engineFill' as const),
      m: mkt,
      frac: big(0n, 5n),
      pricePct: big(50n, 150n),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('adl' as const), m: mkt }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('socialise' as const),
      m: mkt,
      amount: big(-USD, 100n * USD),
      a: acct,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('funding' as const),
      m: mkt,
      rate: big(-2_000_000n, 2_000_000n),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('configure' as const),
      fee: big(0n, 3_000_000n),
      buffer: big(0n, 5_000_000n),
      ranking: fc.integer({ min: 0, max: 4 }),
      atMark: fc.boolean(),
      drawdown: fc.option(fc.tuple(big(0n, 1_000_000n), big(0n, 999_999n), big(0n, 19n)), {
        nil: null,
      }),
    }),
  },
)

/** The starting book: a linear and an inverse market, two accounts on opposite sides of each, a fund. */
export function startBook(implementation: 'native' | 'js'): Engine {
  const e = new Engine({ implementation, quoteDecimals: 8 })
  e.addMarket({
    symbol: 'BTC-PERP',
    priceDecimals: 1,
    qtyDecimals: 3,
    tiers: [
      { floor: '0', mmr: '0.005', imr: '0.01' },
      { floor: '50000', mmr: '0.01', imr: '0.02' },
    ],
    mark: '30000',
  })
  e.addMarket({
    symbol: 'XBTUSD',
    type: 'inverse',
    priceDecimals: 1,
    qtyDecimals: 0,
    contractSize: '1',
    marginBasis: 'entry',
    tierForm: 'step',
    tiers: [
      { floor: '0', mmr: '0.0035', imr: '0.01' },
      { floor: '20', mmr: '0.0085', imr: '0.015' },
    ],
    mark: '30000',
  })
  e.addAccounts([
    // One settlement asset per account (SPEC §5.4): the linear book and the inverse one apart.
    {
      id: 'whale',
      balance: '1000000',
      positions: [{ symbol: 'BTC-PERP', qty: '-5', entry: '30000' }],
    },
    { id: 'minnow', balance: '50', positions: [{ symbol: 'BTC-PERP', qty: '5', entry: '30000' }] },
    {
      id: 'coin-whale',
      balance: '1000000',
      positions: [{ symbol: 'XBTUSD', qty: '200000', entry: '30000' }],
    },
    {
      id: 'coin-minnow',
      balance: '50',
      positions: [{ symbol: 'XBTUSD', qty: '-200000', entry: '30000' }],
    },
  ])
  e.depositInsuranceFund('10')
  return e
}

const pct = (x: bigint, p: bigint) => (x * p) / 100n

/** Marks as the ops set them, per core engine (CoreEngine has no mark getter). */
const MARKS = new WeakMap<CoreEngine, bigint[]>()

function markOf(c: CoreEngine, m: number): bigint {
  return MARKS.get(c)?.[m] ?? 1n
}

function qtyOf(c: CoreEngine, a: number, m: number): bigint {
  try {
    const r = c.positionRisks(Uint32Array.of(a))
    for (let i = 0; i < r.market.length; i++) if (r.market[i] === m) return r.qty[i]!
  } catch {
    // unknown account: any quantity, rejected anyway
  }
  return 1n
}

function part(q: bigint, frac: bigint): bigint {
  return (q / 4n) * frac + (frac === 4n ? q % 4n : 0n)
}

/** Apply one op through the core; returns the value, or throws the engine's error. */
export function applyOp(c: CoreEngine, op: Op): unknown {
  if (!MARKS.has(c)) MARKS.set(c, [300_000n, 300_000n])
  const marks = MARKS.get(c)!
  switch (op.k) {
    case 'addAccount':
      return c.addAccounts([`acct-${op.id}`], BigInt64Array.of(op.balance))
    case 'removeAccount':
      return c.removeAccounts(Uint32Array.of(op.a))
    case 'setBalance':
      return c.setBalances(Uint32Array.of(op.a), BigInt64Array.of(op.balance))
    case 'setPosition': {
      const entry = pct(markOf(c, op.m), op.entryPct)
      const price = op.costBasis ? op.qty * (entry > 0n ? entry : 1n) : entry
      const flags = (op.iso !== null ? FLAG_ISOLATED : 0) | (op.costBasis ? FLAG_COST_BASIS : 0)
      return c.setPositions(
        Uint32Array.of(op.a),
        Uint32Array.of(op.m),
        BigInt64Array.of(op.qty),
        BigInt64Array.of(price),
        BigInt64Array.of((op.iso ?? 0n) * 1_000_000n),
        Uint8Array.of(flags),
      )
    }
    case 'mark': {
      const p = pct(markOf(c, op.m), op.pct)
      c.setMarks(Uint32Array.of(op.m), BigInt64Array.of(p))
      marks[op.m] = p
      return undefined
    }
    case 'watchMarks': {
      // The watch's report is part of the state: both engines must report the same changes.
      const p = pct(markOf(c, op.m), op.pct)
      const ch = c.updateMarks(Uint32Array.of(op.m), BigInt64Array.of(p))
      marks[op.m] = p
      return {
        account: [...ch.account],
        market: [...ch.market],
        liquidatable: [...ch.liquidatable],
      }
    }
    case 'applyFill':
      return c.applyFills(
        Uint32Array.of(op.a),
        Uint32Array.of(op.m),
        BigInt64Array.of(op.qty),
        BigInt64Array.of(pct(markOf(c, op.m), op.pricePct)),
      )
    case 'deposit':
      return c.depositFund(op.amount, op.now)
    case 'run':
      return op.impact ? c.runWaterfall(1, 3n, 50_000n, op.now) : c.runWaterfall(0, 0n, 0n, op.now)
    case 'fill':
      return c.settleLiquidationFill(
        op.a,
        op.iso ? op.m : CROSS,
        op.m,
        part(qtyOf(c, op.a, op.m), op.frac),
        pct(markOf(c, op.m), op.pricePct),
      )
    case 'takeOver':
      return c.takeOver(op.a, op.iso ?? CROSS)
    case 'engineFill': {
      const q = op.m < 2 ? c.liquidatorPosition(op.m)[0]! : 1n
      return c.settleLiquidatorFill(op.m, part(q, op.frac), pct(markOf(c, op.m), op.pricePct))
    }
    case 'adl':
      return c.autoDeleverage(op.m)
    case 'socialise':
      return c.socialiseLoss(op.m, op.amount, op.a)
    case 'funding':
      return c.settleFunding(op.m, op.rate)
    case 'configure': {
      const [trigger, stop, window] = op.drawdown ?? [0n, 0n, 0n]
      return c.configureWaterfall({
        feeRate: op.fee,
        bufferRate: op.buffer,
        ranking: op.ranking,
        adlAtMark: op.atMark,
        policy: op.drawdown ? 1 : 0,
        triggerPpm: trigger,
        stopPpm: stop,
        window,
      })
    }
  }
}
