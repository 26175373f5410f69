/**
 * The loss ledger's decision, as pure functions: given a range in doubt and what was observed,
 * was its commit written (its messages lost), not written (the next owner reads them), or is the
 * outcome unknowable? No I/O, no timers: unit-tested on plain values (test/loss-ledger-judge.test.ts).
 *
 * The one fact it leans on (classic group protocol): while this member stays in the group — same
 * member id, the partition in each of its assignments — no other member can be given the
 * partition, so the committed offset is this member's own. A member whose session expired is
 * removed, gets a new member id when it rejoins, and meanwhile another member may have owned the
 * partition (seen in the chaos suite).
 */
import type { DoubtRange } from './ranges.ts'

/** The group as the coordinator describes it: its state, and each member's assignment (when handed out). */
export interface GroupView {
  state: string
  /** member id -> its assignment (topic -> partitions); undefined when the state carries none (a rebalance under way). */
  members: ReadonlyMap<string, Record<string, number[]> | undefined>
}

/** Why the ranges are resolved by reading: the partition may change owner now. */
export type ResolveWhen = 'rebalance' | 'shutdown' | 'crash'

export type Verdict =
  /** The commit was written: the range's messages are lost (counted in consumer_messages_lost_total{reason="commit_written"}). */
  | { kind: 'lost'; range: DoubtRange; how: string }
  /** Written or not cannot be known: counted in consumer_messages_in_doubt_total. */
  | { kind: 'unknowable'; range: DoubtRange; how: string }
  /** Not written: the next owner reads the messages. `past`: only the part past a written inner commit. */
  | { kind: 'not_written'; range: DoubtRange; committed: number; past: boolean }

/**
 * This member fetched the partition again, the batch starting at `fetched`, and is `member` now. At
 * or past the range's end, having kept the partition and its member id since: the commit was
 * written, and the range is never processed — lost. Before the end: read again, nothing decided
 * (the range stays until a commit covering it is acknowledged: a removed member's fetches cannot
 * commit).
 */
export function judgeFetch(r: DoubtRange, fetched: number, member: string): Verdict | undefined {
  if (fetched < r.end || r.left || r.member === '' || r.member !== member) return undefined
  return { kind: 'lost', range: r, how: `fetched again from offset ${fetched}` }
}

/**
 * The committed offset `committed` was read (-1: none), THEN the group was described as `group`:
 * a member found there was a member when the offset was read (a member id never comes back once
 * removed).
 *  - Below the range's end: not written — unless it is the target of one of the failed commits
 *    merged into the range: that one was written, the messages below it are judged as below, and
 *    the rest was not written.
 *  - At its end, with this member (the id it had when the commit failed) still in the group and
 *    the partition still its own (its assignment, or none handed out yet): written, lost.
 *  - Otherwise (the member removed, the partition handed to another member, read past the end):
 *    unknowable.
 */
export function judgeRead(r: DoubtRange, committed: number, group: GroupView, when: ResolveWhen): Verdict[] {
  const inside = committed > r.start && committed < r.end && r.ends.includes(committed)
  if (committed < r.end && !inside) return [{ kind: 'not_written', range: r, committed, past: false }]
  const part: DoubtRange = inside ? { ...r, end: committed, ends: [committed], count: Math.max(1, Math.min(r.count, committed - r.start)) } : r
  const own = ownership(r, group)
  const verdicts: Verdict[] =
    committed <= r.end && own === true
      ? [{ kind: 'lost', range: part, how: `the committed offset is ${inside ? 'the end of one of its commits' : 'its end'}, read while this member still held the partition (${when})` }]
      : [{ kind: 'unknowable', range: part, how: `committed offset ${committed} read ${committed > r.end ? 'past the range' : `after ${own}`} (${when})` }]
  if (inside) verdicts.push({ kind: 'not_written', range: { ...r, start: committed }, committed, past: true })
  return verdicts
}

/** A range left unresolved when the time to read ran out, or when this member left: unknowable. */
export function unresolved(r: DoubtRange, how: string): Verdict {
  return { kind: 'unknowable', range: r, how }
}

/**
 * Whether the partition of `r` could not have been owned by another member since the commit
 * failed, given the group as described after the offset was read: true, or why not.
 */
export function ownership(r: DoubtRange, group: GroupView): true | string {
  if (r.member === '') return 'this member had been removed from the group since (new member id)'
  if (r.left) return 'the partition had been assigned to another member since'
  if (!group.members.has(r.member)) return 'this member had been removed from the group (session expired)'
  const assignment = group.members.get(r.member)
  if (assignment === undefined) return true // a rebalance under way: nothing handed out to anyone yet
  return (assignment[r.topic] ?? []).includes(r.partition) ? true : 'the partition had been assigned to another member'
}
