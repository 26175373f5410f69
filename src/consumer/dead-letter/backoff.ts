/**
 * The back-off of the dead-letter producer: between two attempts of a failing batch or metadata
 * look-up (doubling from BACKOFF_MIN_MS up to BACKOFF_MAX_MS), and the same bounds for the retries
 * of kafkajs's own send().
 */

/** Back-off between two attempts of a failing batch (or metadata look-up). */
export const BACKOFF_MIN_MS = 100
export const BACKOFF_MAX_MS = 2000

export function nextBackoff(ms: number): number {
  return Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, ms * 2))
}

/** A wait that does not keep the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
