// The peer: a plain object-graph JavaScript implementation, the way a team writes it by hand.
import type { SyntheticMarket } from '../src/synthetic.js'

/**
 * The peer: what a team writes by hand in plain JavaScript — an object per account and per
 * position, floats, Binance's formulas. Not exact; the bench reports how often it disagrees.
 */
export interface PeerMarket {
  mark: number
  tiers: Array<{ floor: number; mmr: number; cum: number }>
}
export interface PeerAccount {
  balance: number
  positions: Array<{
    market: number
    qty: number
    entry: number
    isolated: boolean
    margin: number
  }>
}

export function makePeer(book: SyntheticMarket): {
  markets: PeerMarket[]
  accounts: PeerAccount[]
} {
  const markets = book.markets.map((m) => {
    const tiers: PeerMarket['tiers'] = []
    for (let t = 0; t < m.floors.length; t++) {
      const floor = Number(m.floors[t]!) / 10 ** (m.priceDecimals + m.qtyDecimals)
      const mmr = Number(m.mmr[t]!) / 1e8
      const cum = t === 0 ? 0 : floor * (mmr - tiers[t - 1]!.mmr) + tiers[t - 1]!.cum
      tiers.push({ floor, mmr, cum })
    }
    return { mark: Number(m.mark) / 10 ** m.priceDecimals, tiers }
  })
  const atom = 10 ** book.quoteDecimals
  const accounts: PeerAccount[] = Array.from(book.balances, (b) => ({
    balance: Number(b) / atom,
    positions: [],
  }))
  for (let i = 0; i < book.qty.length; i++) {
    const m = book.markets[book.market[i]!]!
    accounts[book.account[i]!]!.positions.push({
      market: book.market[i]!,
      qty: Number(book.qty[i]!) / 10 ** m.qtyDecimals,
      entry: Number(book.entry[i]!) / 10 ** m.priceDecimals,
      isolated: book.flags[i] === 1,
      margin: Number(book.isolatedMargin[i]!) / atom,
    })
  }
  return { markets, accounts }
}

/** The peer's sweep: indices of liquidatable accounts (cross) plus isolated position count. */
export function peerSweep(peer: { markets: PeerMarket[]; accounts: PeerAccount[] }): {
  accounts: number[]
  isolated: number
} {
  const out: number[] = []
  let isolated = 0
  const { markets, accounts } = peer
  for (let a = 0; a < accounts.length; a++) {
    const acc = accounts[a]!
    let equity = acc.balance
    let mm = 0
    let cross = false
    for (const p of acc.positions) {
      const m = markets[p.market]!
      const notional = Math.abs(p.qty) * m.mark
      let t = m.tiers.length - 1
      while (t > 0 && m.tiers[t]!.floor > notional) t--
      const pm = notional * m.tiers[t]!.mmr - m.tiers[t]!.cum
      const upnl = p.qty * (m.mark - p.entry)
      if (p.isolated) {
        if (p.margin + upnl <= pm) isolated++
      } else {
        cross = true
        equity += upnl
        mm += pm
      }
    }
    if (cross && equity <= mm) out.push(a)
  }
  return { accounts: out, isolated }
}
