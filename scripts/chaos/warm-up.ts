/**
 * Before the outage runs on Apache Kafka: one service at defaults (COMMIT_WINDOW=1, so one commit
 * round trip per message and partition) consumes a 200 msg/s stream until it keeps up. On a freshly
 * started 3-node cluster on a loaded machine the brokers' JVMs are cold: commits took ~300 ms at
 * first and ~25 ms three minutes later (measured, load average 12), so the first runs' service
 * fell thousands of messages behind and an outage without the breaker "lost" only the few hundred
 * it managed to read. The outage runs compare with and without the breaker; both must find the
 * service consuming at the producer's pace.
 */
import type { ChaosBroker } from '../../harness/chaos/cluster.ts'
import { groupLag } from '../../harness/chaos/outage.ts'
import { Stream } from '../../harness/chaos/stream.ts'
import { sleep } from '../../harness/kafka-tools.ts'
import { startService } from '../../harness/service-process.ts'

export interface WarmUp {
  ms: number
  /** The service kept up (lag at most one second of messages, three checks in a row). */
  keptUp: boolean
  lag: number
}

/** `maxMs`: the longest the stream runs (after the service is ready). */
export async function warmUp(broker: ChaosBroker, log: (line: string) => void, rate = 200, maxMs = 240_000): Promise<WarmUp> {
  const t0 = Date.now()
  const cluster = await broker.forOutage()
  const topic = `warm-up-${process.pid}-${t0}`
  const group = `g-${topic}`
  await cluster.createTopic(topic, 6)
  const svc = startService({ KAFKA_BROKERS: cluster.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: group, HANDLER: 'log' })
  const stream = new Stream(cluster.bootstrap, topic, rate, 6)
  let lag = -1
  let inARow = 0
  let loggedAt = t0
  try {
    await svc.waitReady(60_000)
    await stream.start()
    const readyAt = Date.now()
    while (inARow < 3 && Date.now() - readyAt < maxMs) {
      await sleep(2000)
      lag = await groupLag(cluster.bootstrap, group, topic)
      inARow = lag <= rate ? inARow + 1 : 0
      if (Date.now() - loggedAt >= 20_000) {
        loggedAt = Date.now()
        log(`   warm-up: lag ${lag} after ${((loggedAt - t0) / 1000).toFixed(0)} s`)
      }
    }
  } finally {
    await stream.stop().catch(() => undefined)
    await svc.stop('SIGTERM').catch(() => undefined)
    await cluster.close()
  }
  return { ms: Date.now() - t0, keptUp: inARow >= 3, lag }
}
