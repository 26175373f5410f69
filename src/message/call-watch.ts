/**
 * Every handler call that returned a promise, watched for its end, its time limit
 * (HANDLER_TIMEOUT_MS) and the shutdown deadline, with one timer and one abort listener for all of
 * them (a timer and a listener per call cost more than the rest of the message's path together at
 * tens of thousands of calls a second). All calls share one time limit, so they time out in the
 * order they started: a doubly linked list in start order, the oldest first; a call that ends is
 * unlinked at once; the one timer waits for the oldest.
 */

/** How a watched call ended. */
export type Settled = { kind: 'ok' } | { kind: 'error'; error: unknown } | { kind: 'timeout' } | { kind: 'deadline' }

/**
 * A call the watch follows (subclassed by what the call is about: one object per call holds both
 * the call's own state and its place in the watch's list). `settled` is called exactly once.
 */
export abstract class WatchedCall {
  /** When it times out (ms, Date.now()); Infinity: no limit. */
  at = Infinity
  prev: WatchedCall | undefined = undefined
  next: WatchedCall | undefined = undefined
  /** Ended (told once). */
  over = false
  abstract settled(s: Settled): void
}

/** A watched call that just calls a function (the tests, and callers with nothing else to keep). */
class CallbackCall extends WatchedCall {
  constructor(private readonly done: (s: Settled) => void) {
    super()
  }
  settled(s: Settled): void {
    this.done(s)
  }
}

type Watched = WatchedCall

export class CallWatch {
  private head: Watched | undefined
  private tail: Watched | undefined
  private timer: NodeJS.Timeout | undefined

  /**
   * @param timeoutMs HANDLER_TIMEOUT_MS; 0: no limit
   * @param deadline aborted at the shutdown deadline: every watched call ends as `deadline`
   */
  constructor(
    private readonly timeoutMs: number,
    private readonly deadline: AbortSignal,
  ) {
    if (!deadline.aborted) deadline.addEventListener('abort', () => this.endAll(), { once: true })
  }

  /**
   * Settles `call` once: when `pending` settles, when it times out, or at the deadline (whichever
   * is first). A function is wrapped in a call of its own.
   */
  watch(pending: PromiseLike<unknown>, call: WatchedCall | ((s: Settled) => void)): void {
    const w = typeof call === 'function' ? new CallbackCall(call) : call
    if (this.deadline.aborted) {
      w.over = true
      w.settled(DEADLINE)
      return
    }
    w.at = this.timeoutMs > 0 ? Date.now() + this.timeoutMs : Infinity
    w.prev = this.tail
    w.next = undefined
    if (this.tail) this.tail.next = w
    else this.head = w
    this.tail = w
    if (w.at !== Infinity && this.timer === undefined) this.arm(w.at)
    pending.then(
      () => this.end(w, OK),
      (error: unknown) => this.end(w, { kind: 'error', error }),
    )
  }

  /** Calls watched now (tests). */
  get size(): number {
    let n = 0
    for (let w = this.head; w; w = w.next) n++
    return n
  }

  private end(w: Watched, s: Settled): void {
    if (w.over) return
    w.over = true
    if (w.prev) w.prev.next = w.next
    else this.head = w.next
    if (w.next) w.next.prev = w.prev
    else this.tail = w.prev
    w.prev = w.next = undefined
    w.settled(s)
  }

  private arm(at: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()))
    this.timer.unref()
  }

  /** The timer fired: time out every call past its limit, then wait for the next oldest. */
  private expire(): void {
    this.timer = undefined
    const now = Date.now()
    while (this.head && this.head.at <= now) this.end(this.head, TIMEOUT)
    if (this.head && this.head.at !== Infinity) this.arm(this.head.at)
  }

  private endAll(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    while (this.head) this.end(this.head, DEADLINE)
  }
}

const OK: Settled = { kind: 'ok' }
const TIMEOUT: Settled = { kind: 'timeout' }
const DEADLINE: Settled = { kind: 'deadline' }
