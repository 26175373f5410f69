/**
 * The fault timeline on librdkafka's three-broker mock cluster (base 40 s of streaming): scale
 * 1 -> 3, errors injected on OffsetCommit, Fetch, Heartbeat, JoinGroup and SyncGroup, SIGKILL of
 * an instance and its restart, a broker down and up, +40 ms RTT, SIGTERM, scale 3 -> 1.
 * Request-level errors and RTT exist only here: Apache Kafka cannot be told to fail a request.
 */
import { ApiKey, KafkaErr } from '../brokers/mock-cluster.ts'
import type { RunContext } from './run-context.ts'

export const MOCK_TIMELINE_MS = 40_000

export async function mockTimeline(ctx: RunContext): Promise<void> {
  const { fleet, note, until, opts } = ctx
  if (ctx.cluster.kind !== 'mock') throw new Error('mockTimeline needs the mock cluster')
  const cluster = ctx.cluster.mock

  await until(3000)
  const joiners = [fleet.spawn('B'), fleet.spawn('C')]
  note('scale 1 -> 3: B and C start')
  await Promise.all(joiners.map((i) => i.proc.waitReady(45_000).catch(() => undefined)))
  note('B and C ready')

  await until(8000)
  cluster.pushRequestErrors(ApiKey.OffsetCommit, [KafkaErr.REQUEST_TIMED_OUT, KafkaErr.NOT_COORDINATOR, KafkaErr.REBALANCE_IN_PROGRESS])
  cluster.pushRequestErrors(ApiKey.Fetch, [KafkaErr.NOT_LEADER_FOR_PARTITION, KafkaErr.REQUEST_TIMED_OUT])
  cluster.pushRequestErrors(ApiKey.Heartbeat, [KafkaErr.REBALANCE_IN_PROGRESS])
  note('errors injected: OffsetCommit(7,16,27), Fetch(6,7), Heartbeat(27)')

  await until(12_000)
  // Mid-stream, once B owns partitions (a join completes in about a session timeout).
  await fleet.sigkill('B', { whileAtRisk: opts.killAtRisk === true })
  cluster.pushRequestErrors(ApiKey.JoinGroup, [KafkaErr.COORDINATOR_NOT_AVAILABLE])
  cluster.pushRequestErrors(ApiKey.SyncGroup, [KafkaErr.REBALANCE_IN_PROGRESS])
  note('errors injected: JoinGroup(15), SyncGroup(27)')

  await until(15_000)
  fleet.spawn('B2')
  note('restart: B2 starts')

  if (opts.brokerFaults !== false) {
    await until(18_000)
    cluster.brokerDown(2)
    note('broker 2 down')
    await until(22_000)
    cluster.brokerUp(2)
    note('broker 2 up')
  }

  await until(24_000)
  cluster.setRtt(40)
  note('RTT +40 ms on all brokers')

  await until(27_000)
  await fleet.sigterm('C')
  await until(30_000)
  cluster.setRtt(0)
  note('RTT back to 0')

  await until(32_000)
  await fleet.sigterm('B2', ' (scale 3 -> 1)')
}
