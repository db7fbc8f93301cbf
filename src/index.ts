// deleverage: exact margin-risk engine for perpetual futures.
// `Engine` is the ergonomic API (decimal strings); `engine.core` the integer/typed-array one.

import { defaultImplementation } from './engine.js'

export {
  Engine,
  defaultImplementation,
  type AccountInput,
  type AccountReport,
  type AccountStatus,
  type AdlQueueEntry,
  type AdlRanking,
  type DeleveragePlanReport,
  type DeleverageTarget,
  type FillModel,
  type LedgerReport,
  type WaterfallEvent,
  type WaterfallOptions,
  type ContractType,
  type EngineOptions,
  type Implementation,
  type MarginBasis,
  type MarginStatus,
  type MarginUnits,
  type PositionUnits,
  type LiquidationPriceReason,
  type MarketConfig,
  type PositionInput,
  type PositionReport,
  type SweepReport,
  type SweepColumns,
  type TierConfig,
  type TierForm,
  type WatchChange,
  type FillInput,
  type LiquidationMapOptions,
  type LiquidationMapReport,
  type LiquidationMapSums,
  type LiquidationMapSumsUnits,
} from './engine.js'
export {
  CROSS,
  EVENT_KINDS,
  FLAG_COST_BASIS,
  FLAG_ISOLATED,
  type CoreEngine,
  type DeleveragePlanColumns,
  type EventColumns,
  type EventKind,
  type Ledger,
  type LiquidationMapColumns,
  type MarginColumns,
  type MarketInit,
  type PlanColumns,
  type PositionRiskColumns,
  type QueueColumns,
  type WaterfallInit,
  type WatchChanges,
} from './core.js'
export { formatUnits, parseUnits, units, type Amount, type Units } from './decimal.js'
export { ApiErrorCode, DeleverageError, ErrorCode } from './fallback/errors.js'
export { JsEngine } from './fallback/engine.js'
export { compareQueueEntries, mergeAdlQueues, topOfQueue } from './partition.js'
export { engineFromScenario, loadScenarioFile, parseScenario, type Scenario } from './scenario.js'
export {
  loadNative,
  describeLoadFailure,
  type NativeBinding,
  type NativeLoadResult,
} from './native.js'

/** 'native' when the Rust engine loaded, 'js' when the TypeScript engine is in use. */
export const implementation = defaultImplementation().implementation
/** Why the native engine did not load (with its cause chain), or null. */
export const nativeLoadError = defaultImplementation().loadError
export type {
  OrderInput,
  OrderVerdictReport,
  OrderVerdictCode,
  PreTradeOptions,
  OpenOrder,
  AccountMarginReport,
  WhatIfReport,
  MarginReportUnits,
  WhatIfPositionUnits,
  OrderSide,
} from './pretrade-api.js'
