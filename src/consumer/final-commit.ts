/**
 * Shutdown step 4, the final synchronous commit: every partition's position still pending is
 * committed and awaited (async: the newest position asked for; auto: the processed one). In sync
 * mode nothing is ever pending (it commits before processing): `final commit: nothing pending`.
 */
import type { Logger } from 'pino'
import type { CommitModeBehaviour } from './commit-modes.ts'
import type { PartitionState } from './partitions.ts'

/** Whether a partition has a commit in flight or a position waiting to be committed. */
export function hasPendingCommit(p: PartitionState): boolean {
  return p.committer.busy || p.ungated.pending !== undefined
}

/** Resolves false when a commit failed (logged with what it costs). */
export async function finalCommit(partitions: Iterable<PartitionState>, mode: CommitModeBehaviour, log: Logger, canCommit: boolean): Promise<boolean> {
  const pending = [...partitions].filter(hasPendingCommit)
  if (pending.length === 0 || !canCommit) {
    log.info({ mode: mode.name, pending: 0 }, 'final commit: nothing pending')
    return true
  }
  let ok = true
  const offsets: Record<string, number> = {}
  await Promise.all(
    pending.map(async (p) => {
      const committed = await p.ungated.flush()
      if (committed) offsets[p.key] = p.committer.acked
      ok &&= committed
    }),
  )
  if (ok) log.info({ mode: mode.name, offsets }, 'final commit done')
  else log.warn({ mode: mode.name, offsets, lost: false }, `final commit failed; ${mode.failedFinalCommitCost}`)
  return ok
}
