/**
 * The fault timeline on a three-node Apache Kafka KRaft cluster (base 50 s of streaming):
 *
 *    2 s  scale 1 -> 3: B and C start
 *    9 s  SIGKILL B (in the loss run: while it holds committed-but-unprocessed messages)
 *   11 s  restart: B2 starts
 *   14 s  SIGKILL the node that is the group's coordinator; restarted at 17 s (a restart takes
 *         15-25 s on a busy 2-core machine: JVM start, log recovery, catching up)
 *   28 s  SIGSTOP the node that coordinates the group now, for FREEZE_MS (15 s), then SIGCONT
 *   ~42 s preferred-leader election on every partition (leaders move back onto the restarted
 *         and the resumed node; the group's coordinator moves with its __consumer_offsets partition)
 *   46 s  SIGTERM C; 49 s SIGTERM B2 (scale 3 -> 1)
 *
 * A restart or a wait for the replicas to catch up takes its own time; the steps after it
 * start late rather than overlap (two nodes out of three down at once would stop the cluster
 * taking writes: min.insync.replicas is 2).
 */
import { freeze, FREEZE_MS, electPreferredLeaders, killCoordinator, leaders, movedLeaders, nodeById, OFFSETS_TOPIC, waitFullIsr } from './faults.ts'
import { sleep } from '../kafka-tools.ts'
import type { RunContext } from './run-context.ts'

export const KAFKA_TIMELINE_MS = 50_000

export async function kafkaTimeline(ctx: RunContext): Promise<void> {
  const { fleet, note, until, opts, topic, group } = ctx
  if (ctx.cluster.kind !== 'kafka') throw new Error('kafkaTimeline needs Apache Kafka')
  const kafka = ctx.cluster.kafka
  const f = { coordinatorKill: true, freeze: true, elect: true, ...opts.kafkaFaults }
  const both = [topic, OFFSETS_TOPIC]
  const topicLeaders = async () => [...(await leaders(kafka, [topic])).values()].join(',')

  await until(2000)
  const joiners = [fleet.spawn('B'), fleet.spawn('C')]
  note('scale 1 -> 3: B and C start')
  await Promise.all(joiners.map((i) => i.proc.waitReady(60_000).catch(() => undefined)))
  note('B and C ready')

  await until(9000)
  await fleet.sigkill('B', { whileAtRisk: opts.killAtRisk === true })
  await until(11_000)
  fleet.spawn('B2')
  note('restart: B2 starts')

  if (f.coordinatorKill) {
    await until(14_000)
    const before = await leaders(kafka, both)
    const t = Date.now()
    const node = await killCoordinator(kafka, group)
    ctx.coordinatorFault()
    const led = [...before].filter(([k, l]) => k.startsWith(`${topic}/`) && l === node.id).length
    note(`SIGKILL broker ${node.id}, the group coordinator (it led ${led} of the topic's partitions)`)
    await until(17_000)
    await node.start()
    const after = await leaders(kafka, both)
    note(
      `broker ${node.id} restarted (${((Date.now() - t) / 1000).toFixed(1)} s after the kill): ${movedLeaders(before, after)} leaderships moved, ` +
        `topic leaders ${await topicLeaders()}, coordinator now ${await kafka.coordinatorOf(group)}`,
    )
  }

  if (f.freeze) {
    const synced = await waitFullIsr(kafka, both, 30_000)
    await until(28_000)
    const node = nodeById(kafka, await kafka.coordinatorOf(group))
    const before = await leaders(kafka, both)
    note(`SIGSTOP broker ${node.id}, the group coordinator now, for ${FREEZE_MS / 1000} s${synced ? '' : ' (replicas were not all in sync yet)'}`)
    ctx.coordinatorFault()
    await freeze(node)
    const after = await leaders(kafka, both).catch(() => undefined)
    const moved = after ? `${movedLeaders(before, after)} leaderships had moved` : 'leaders unknown (metadata read failed)'
    note(`SIGCONT broker ${node.id}: ${moved}, coordinator now ${await kafka.coordinatorOf(group)}`)
  }

  if (f.elect) {
    const synced = await waitFullIsr(kafka, both, 30_000)
    const before = await leaders(kafka, both)
    const coordinatorBefore = await kafka.coordinatorOf(group)
    const e = await electPreferredLeaders(kafka)
    // The controller has elected; the brokers' metadata follows a moment later (3.9 lags more).
    await sleep(2000)
    const after = await leaders(kafka, both)
    const coordinatorAfter = await kafka.coordinatorOf(group)
    // A coordinator moved gracefully still answers the commits it was writing NOT_COORDINATOR.
    if (coordinatorAfter !== coordinatorBefore) ctx.coordinatorFault()
    const onTopic = movedLeaders(
      new Map([...before].filter(([k]) => k.startsWith(`${topic}/`))),
      new Map([...after].filter(([k]) => k.startsWith(`${topic}/`))),
    )
    note(
      `preferred-leader election${synced ? '' : ' (replicas not all in sync)'}: ${e.moved} partitions elected, ${onTopic} of the topic's leaders moved ` +
        `(now ${await topicLeaders()}), coordinator ${coordinatorBefore} -> ${coordinatorAfter}${e.failed ? `, ${e.failed} failed` : ''}`,
    )
  }

  await until(46_000)
  await fleet.sigterm('C')
  await until(49_000)
  await fleet.sigterm('B2', ' (scale 3 -> 1)')
}
