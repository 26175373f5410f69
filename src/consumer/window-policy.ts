/**
 * When the dispatcher sends the next commit window (what it covers is the gate's business:
 * at-most-once.ts). One policy for every ORDERING: a pure function of the dispatcher's counts and
 * two estimates, the commit round trip and a handler call's duration.
 *
 * The aim: the next acknowledgement arrives about when the covered messages run out, with as few
 * commits as that allows.
 *  - Nothing covered is left to start or running: send now, whatever the room (the batch would
 *    otherwise stand still).
 *  - Otherwise send early only when it can hide latency and is worth a round trip:
 *      - the room is at least a quarter of COMMIT_WINDOW (fewer, larger commits);
 *      - a window's work at the current concurrency takes at least a round trip (else the covered
 *        rest is done before an early commit could return: it would only split the window);
 *      - the covered messages waiting to start run out within about a round trip.
 * With COMMIT_WINDOW=1 a window is sent when the previous message finished, as before.
 */

export interface WindowState {
  /** Messages a commit sent now may newly cover (CommitGate.room). */
  room: number
  /** COMMIT_WINDOW. */
  window: number
  /** Covered messages not started yet (their shard is busy, no slot, or not reached yet). */
  queued: number
  /** Handler calls of this batch running now. */
  running: number
  /** A handler call's duration, moving average (ms); 0: not measured yet. */
  perMessageMs: number
  /** The commit round trip, moving average (ms); 0: not measured yet. */
  rttMs: number
}

export function windowDue(s: WindowState): boolean {
  if (s.room <= 0) return false
  if (s.queued + s.running === 0) return true
  if (s.room * 4 < s.window) return false
  const lanes = Math.max(1, s.running)
  // Time for the current concurrency to get through a whole window, and through what is queued.
  if ((s.window * s.perMessageMs) / lanes < s.rttMs || s.perMessageMs === 0) return false
  return (s.queued * s.perMessageMs) / lanes <= s.rttMs
}
