/**
 * What /healthz and /readyz answer, and the consumer_ready gauge. The state follows kafkajs's
 * lifecycle (service.ts translates its events):
 *
 *   idle -> connecting -> joining -> running <-> restarting (a retriable crash) ; crashed (for good)
 *   any  -> stopping -> stopped
 *
 * Readiness: joined the group, not shutting down (a rebalance keeps it ready). Liveness: false once
 * the consumer crashed for good, or a running consumer made no fetch progress for STALL_TIMEOUT_MS.
 */
import type { Metrics } from '../metrics.ts'

export type ConsumerState = 'idle' | 'connecting' | 'joining' | 'running' | 'restarting' | 'crashed' | 'stopping' | 'stopped'

export class ConsumerHealth {
  state: ConsumerState = 'idle'
  /** Shutdown began: never ready again. */
  stopping = false
  private lastProgressAt = Date.now()

  constructor(
    private readonly stallTimeoutMs: number,
    private readonly readyGauge: Metrics['ready'],
  ) {
    readyGauge.set(0)
  }

  get ready(): boolean {
    return this.state === 'running' && !this.stopping
  }

  /** The fetch loop moved (a fetch, a heartbeat, a batch). */
  progress(): void {
    this.lastProgressAt = Date.now()
  }

  /** Joined a generation of the group. */
  joined(): void {
    this.progress()
    if (this.stopping) return
    this.state = 'running'
    this.readyGauge.set(1)
  }

  /** A retriable crash: the consumer is being restarted. */
  restarting(): void {
    this.state = 'restarting'
    this.readyGauge.set(0)
  }

  /** Crashed for good: liveness fails. */
  crashed(): void {
    this.state = 'crashed'
    this.readyGauge.set(0)
  }

  /** Shutdown began: readiness off at once. */
  stop(): void {
    this.stopping = true
    this.readyGauge.set(0)
  }

  health(): { ok: boolean; reason?: string } {
    if (this.state === 'crashed') return { ok: false, reason: 'consumer crashed and will not restart' }
    const idleMs = Date.now() - this.lastProgressAt
    if (this.state === 'running' && idleMs > this.stallTimeoutMs) {
      return { ok: false, reason: `no fetch progress for ${idleMs} ms (STALL_TIMEOUT_MS=${this.stallTimeoutMs})` }
    }
    return { ok: true }
  }
}
