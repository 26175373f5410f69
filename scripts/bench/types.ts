/** What one benchmark case measured, and the run it belongs to. */

export type CaseKind = 'ceiling' | 'reference' | 'service'

export interface CaseResult {
  name: string
  /** I/O-bound cases: handler latency, and msg/s ÷ min(cap, partitions × concurrency) ÷ latency. */
  io?: { handlerMs: number; ordering: string; maxInFlight: number; limit: number; limitRatio: number }
  /** The tracing rows: the case they add tracing to, and the sampling ratio (null: tracing off). */
  tracing?: { base: string; ratio: number | null }
  /** Tracing rows: the OTLP export requests the collector stand-in received during the case (512 spans each but the last). */
  exported?: { requests: number; bytes: number }
  kind: CaseKind
  /** The service's COMMIT_MODE (null for the kafkajs clients). */
  mode: 'sync' | 'async' | 'auto' | null
  /** COMMIT_WINDOW in effect (sync), null otherwise. */
  window: number | null
  /** PARTITION_CONCURRENCY in effect ('all' = every partition), or the kafkajs client's. */
  concurrency: string
  /** True for the case run with no tuning variable at all. */
  defaults: boolean
  rttMs: number
  messages: number
  /** False when the case stopped at its time budget. */
  complete: boolean
  msgPerSec: number
  /** msg/s ÷ the like-for-like ceiling at the same RTT. */
  ratio: number | null
  /** Window-1 rows: msg/s ÷ (partitions ÷ measured raw commit round trip). */
  boundRatio: number | null
  /** Main-thread CPU time per message from ready to the last message, µs (/proc schedstat). */
  cpuUsPerMsg: number | null
  /** Main-thread time runnable but waiting for a CPU per message, µs: the shared machine's load. */
  runqUsPerMsg: number | null
  /** The ceiling's CPU per message ÷ this case's: the ratio it would reach bound by its own CPU. */
  cpuRatio: number | null
  /**
   * Estimate: msg/s with the main thread's run-queue wait taken out of the elapsed time (what
   * the case would do if other processes did not hold the CPUs; the broker's own waits stay in).
   * Meaningful for long cases (window 1); a short case's wait window overhangs its first and
   * last message, so its ratios are not derived from it.
   */
  msgPerSecNoWait: number | null
  ratioNoWait: number | null
  boundRatioNoWait: number | null
  commitP50Ms: number | null
  commitP99Ms: number | null
  commitsPerSec: number | null
  peakRssMb: number | null
  startToReadyMs: number | null
  joinMs: number | null
  readyMinusJoinMs: number | null
  sigtermToExitMs: number | null
  exitCode: number | null
  /** Distinct lines the process wrote on stderr (warnings), if any. */
  stderr?: string[]
  /** --diagnose: where the time went (counters from scripts/bench/counters.mjs). */
  counters?: Counters
}

/** Counters of the kafkajs fetch/process cycle, gathered inside the service process. */
export interface Counters {
  fetchRounds: number
  /** Fetch rounds that returned at least one message. */
  fullRounds: number
  /** Time inside consumerGroup.fetch (request → response decoded), ms. */
  fetchMs: number
  /** Time from the batches handed to the workers until every one of them is done, ms. */
  processMs: number
  batches: number
  messages: number
  /** OffsetCommit requests and the time they took (sum), ms. */
  commits: number
  commitMs: number
  /** Per batch: from the batch handed over to its first handler call (its first commit), summed; and per round the longest of them. */
  firstCommitWaitMs: number
  roundCommitWaitMs: number
  /** Handler time (the no-op bench handler), ms. */
  handlerMs: number
  wallMs: number
}

/** The raw round trips measured at one added RTT, on a bare TCP connection (no client library). */
export interface RttProbe {
  /** ApiVersions v0, p50 of 100 (after 30 to warm up). */
  apiVersionsMs: number
  /** OffsetCommit v2 of every partition in one request (as the service's batcher sends them), p50 of 100. */
  commitMs: number
}

/** One run against one broker on one Node version. */
export interface Section {
  key: string
  broker: 'mock' | 'kafka'
  brokerLabel: string
  node: string
  machine: string
  /** The Node flags the service ran with (package.json's "start", as the image). */
  nodeFlags?: string[]
  date: string
  quick: boolean
  partitions: number
  messages: number
  valueBytes: number
  budgetMs: number
  rtts: Record<string, RttProbe>
  /** The 1-minute load average seen between cases (min, max): the machine is shared. */
  loadAverage?: [number, number]
  results: CaseResult[]
  profile?: string
  notes?: string[]
}
