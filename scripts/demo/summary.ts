/** The summary printed after Ctrl-C (or the service's own exit): produced, consumed, committed, the final commit line and the exit code. */
import { bold, dim, green, out, red, yellow } from './style.ts'
import { tally } from './tally.ts'

/** What the summary says about the run itself. */
export interface Run {
  startedAt: number
  topic: string
  partitions: number
  groupId: string
}

export function summary(
  { startedAt, topic, partitions, groupId }: Run,
  ends: Map<number, number> | undefined,
  committed: Map<number, number> | undefined,
  code: number,
): void {
  const secs = Math.round((Date.now() - startedAt) / 1000)
  const sum = (m?: Map<number, number>) => [...(m?.values() ?? [])].reduce((a, b) => a + Math.max(0, b), 0)
  const perPartition = (m?: Map<number, number>) =>
    [...(m?.entries() ?? [])]
      .sort(([a], [b]) => a - b)
      .map(([p, o]) => `[${p}]=${o < 0 ? '–' : o}`)
      .join(' ')
  const produced = ends ? sum(ends) : tally.produced
  const committedCount = committed ? sum(committed) : tally.metrics.committed
  const allIn = ends && committed && [...ends].every(([p, end]) => committed.get(p) === end)
  const fc = tally.finalCommit
  const fcText = fc
    ? `"${fc.msg}"${fc.offsets ? ' ' + JSON.stringify(fc.offsets) : ''}${fc.pending === 0 ? dim(fc.mode === 'sync' ? ' (sync: nothing left to flush)' : ' (every commit was acknowledged)') : ''}`
    : 'none logged'
  const done = tally.complete ? `last line "${tally.complete.msg}"` : 'no shutdown line'
  const why = tally.failure ?? tally.stderr.at(-1)
  const row = (k: string, v: string) => `  ${k.padEnd(13)}${v}`
  const d = tally.downstream
  const times = (n: number) => `${n} time${n === 1 ? '' : 's'}`
  const lines = [
    '',
    bold(`summary — ${secs} s, topic ${topic} (${partitions} partitions), group ${groupId}`),
    row('produced', `${produced}  ${dim(`(end offsets on the broker: ${perPartition(ends)})`)}`),
    row('consumed', `${tally.consumed}  ${dim(`(${d ? 'delivered to the downstream' : '"consumed" lines'}; last ${tally.lastConsumed || '–'})`)}`),
    row(
      'committed',
      `${committedCount}  ${dim(`(group offsets on the broker: ${perPartition(committed) || 'none'})`)}`,
    ),
    row('', allIn ? green('= end offsets: every produced message was committed') : yellow('≠ end offsets: the group had not caught up')),
    row('at risk/lost', `${tally.metrics.atRisk} / ${tally.metrics.lost}  ${dim('(last scrape of /metrics)')}`),
    ...(d
      ? [
          row('breaker', `opened ${times(tally.metrics.breakerOpened)}, ${tally.metrics.breaker || '–'} at the end; downstream taken down ${times(d.takenDown)}`),
          ...(tally.metrics.breakerOpened > 0 && tally.metrics.lost > 0 && tally.heldLost === 0
            ? [row('', dim('lost: the calls that failed as it opened; none while it was open'))]
            : []),
        ]
      : []),
    row('final commit', fcText),
    row('service', `exit code ${code === 0 ? green('0') : red(String(code))}; ${done}`),
  ]
  if (code !== 0 && why) lines.push(row('', red(`it stopped because: ${why}`)))
  if (tally.heldLost > 0) {
    lines.push(row('', yellow(`${tally.heldLost} held, lost at shutdown: committed, never processed`)))
  } else if (code !== 0 && tally.metrics.atRisk > 0) {
    lines.push(row('', yellow(`${tally.metrics.atRisk} committed, not processed at the last scrape: lost if never processed (at most once)`)))
  }
  if (why && /EADDRINUSE/.test(why)) lines.push(row('', `port ${process.env.PORT ?? 8080} is taken: try PORT=8081 npm run demo`))
  if (tally.stopReason === 'SIGINT') lines.push(dim('  (npm run demo itself exits 130 after Ctrl-C: npm reports the interrupt)'))
  for (const l of lines) out.write(l + '\n')
}
