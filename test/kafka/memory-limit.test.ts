/**
 * The service fits in the Helm chart's default memory limit (resources.limits.memory in
 * helm/amo-consumer/values.yaml, read here, so the two cannot drift) under the load where an OOM
 * kill would cost the most: a backlog on 6 partitions consumed at full speed, ORDERING=key with a
 * window and a cap (COMMIT_WINDOW=100, MAX_IN_FLIGHT=200), tracing on with every message sampled
 * (each carries a sampled traceparent, as from a traced producer) and exported over OTLP to a live
 * collector stand-in. It must process every message once, lose none, commit to the end offsets
 * and exit 0 on SIGTERM, never killed.
 *
 * The limit is a cgroup v1 memory cgroup, as a container runtime sets for a pod: created by this
 * test as root at /sys/fs/cgroup/memory/amo-memlimit-<pid>, memory.limit_in_bytes (and
 * memory.memsw.limit_in_bytes, so no swap) = the chart's limit. The service joins it before Node
 * starts (startService's `cgroup`: a shell writes its pid to cgroup.procs, then execs Node), so
 * Node sees the limit as it would in the pod. When the limit is hit the kernel reclaims and then
 * OOM-kills (SIGKILL, counted in memory.oom_control): the exit checks see it. The cgroup's peak
 * (memory.max_usage_in_bytes, which also counts page cache and kernel memory) and the process's
 * peak RSS are printed, not asserted. Without a writable cgroup v1 memory controller (not root,
 * cgroup v2 only) the test FAILS, naming what is missing: it is never skipped.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { committedToEnd, endOffsets, produce, sleep } from '../../harness/kafka-tools.ts'
import { startOtlpSink, type OtlpSink } from '../../harness/otlp-sink.ts'
import { ROOT, startService } from '../../harness/service-process.ts'
import { startKafka, uniq } from './support.ts'

const MEMORY_V1 = '/sys/fs/cgroup/memory'
const PARTITIONS = 6
/** The backlog: about 13 fetches' worth per partition at kafkajs's 1 MB, a few seconds of work. */
const MESSAGES = 60_000

/** Kubernetes quantity (`256Mi`, `1Gi`, `300M`, bytes) in bytes. */
function quantityBytes(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(String(q).trim())
  if (!m) throw new Error(`not a memory quantity: ${q}`)
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1
  return Math.round(Number(m[1]) * unit)
}

/** The chart's default resources.limits.memory. */
function chartMemoryLimit(): { quantity: string; bytes: number } {
  const values = parseYaml(readFileSync(join(ROOT, 'helm/amo-consumer/values.yaml'), 'utf8')) as { resources?: { limits?: { memory?: string } } }
  const quantity = values.resources?.limits?.memory
  assert.ok(quantity, 'helm/amo-consumer/values.yaml sets resources.limits.memory')
  return { quantity, bytes: quantityBytes(quantity) }
}

/** A cgroup v1 memory cgroup with a hard limit and no swap; fails with what is missing. */
function createMemoryCgroup(name: string, limitBytes: number): string {
  const dir = join(MEMORY_V1, name)
  try {
    if (!existsSync(join(MEMORY_V1, 'memory.limit_in_bytes'))) throw new Error(`${MEMORY_V1} is not a cgroup v1 memory hierarchy`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes))
    if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limitBytes))
    writeFileSync(join(dir, 'memory.swappiness'), '0')
  } catch (err) {
    throw new Error(
      `cannot create the memory cgroup ${dir} with a limit of ${limitBytes} bytes: ${(err as Error).message}. ` +
        'This test needs the cgroup v1 memory controller mounted at /sys/fs/cgroup/memory and writable: run it as root on such a host ' +
        '(a cgroup v2-only host, or a container without a writable cgroup, cannot run it)',
      { cause: err },
    )
  }
  return dir
}

const readCg = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim()

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: under the chart's default memory limit`, () => {
  let kafka: ApacheKafka
  let sink: OtlpSink
  let cgroup: string | undefined
  const limit = chartMemoryLimit()
  before(async () => {
    cgroup = createMemoryCgroup(`amo-memlimit-${process.pid}`, limit.bytes)
    ;[kafka, sink] = await Promise.all([startKafka({ nodes: 1 }), startOtlpSink()])
  })
  after(async () => {
    await sink?.close()
    await kafka?.stop()
    // Empty once the service has exited (every process it held is gone).
    if (cgroup) for (let i = 0; i < 50 && existsSync(cgroup); i++) {
      try {
        rmdirSync(cgroup)
      } catch {
        await sleep(100)
      }
    }
  })

  it(`a backlog at full speed, ORDERING=key, every message traced: all processed, nothing lost, exit 0 within ${limit.quantity}`, async (t) => {
    const topic = uniq('memlimit')
    const group = `g-${topic}`
    await kafka.createTopic(topic, PARTITIONS)
    const pad = 'x'.repeat(120)
    await produce(
      kafka.bootstrap,
      topic,
      Array.from({ length: MESSAGES }, (_, i) => ({
        key: `station-${i % 97}`,
        partition: i % PARTITIONS,
        value: JSON.stringify({ seq: i, station: `station-${i % 97}`, temperature: 12.5 + (i % 20), pad }),
        headers: { traceparent: `00-${(i + 1).toString(16).padStart(32, '0')}-${(i + 1).toString(16).padStart(16, '0')}-01` },
      })),
      2000,
    )
    const expected = [...(await endOffsets(kafka.bootstrap, topic)).values()].reduce((a, b) => a + b, 0)
    assert.ok(expected >= MESSAGES, `the topic holds ${expected} messages`)

    const svc = startService(
      {
        KAFKA_BROKERS: kafka.bootstrap.join(','),
        KAFKA_TOPICS: topic,
        KAFKA_GROUP_ID: group,
        HANDLER: 'noop',
        ORDERING: 'key',
        COMMIT_WINDOW: '100',
        MAX_IN_FLIGHT: '200',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
        OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      },
      { cgroup },
    )
    const pid = svc.child.pid
    let peakRss = 0
    let processed = 0
    const t0 = Date.now()
    try {
      await svc.waitReady(60_000)
      const memoryLine = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))
      assert.equal(memoryLine?.split(':')[2], `/${cgroup!.slice(MEMORY_V1.length + 1)}`, 'the service runs inside the limited cgroup')
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
        processed = await svc.metric('consumer_messages_processed_total')
        const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
        if (hwm) peakRss = Number(hwm[1]) * 1024
        if (processed >= expected) break
        await sleep(250)
      }
      assert.equal(processed, expected, `processed ${processed} of ${expected}\n${svc.tail()}`)
      assert.equal(await svc.metric('consumer_messages_lost_total'), 0, 'nothing lost')
      assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), expected, 'every message processed ok')
    } finally {
      const exit = await svc.stop('SIGTERM')
      const oomKills = Number(/oom_kill (\d+)/.exec(readCg(cgroup!, 'memory.oom_control'))?.[1] ?? 0)
      const cgroupPeak = Number(readCg(cgroup!, 'memory.max_usage_in_bytes'))
      const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`
      t.diagnostic(
        `limit ${limit.quantity} (${mb(limit.bytes)}): process peak RSS ${mb(peakRss)}, cgroup peak ${mb(cgroupPeak)} (RSS + page cache + kernel), ` +
          `OOM kills ${oomKills}; ${expected} messages in ${((Date.now() - t0) / 1000).toFixed(1)} s from start; ` +
          `${sink.stats().requests} OTLP exports; exit ${exit.code ?? exit.signal} after ${exit.ms} ms`,
      )
      assert.equal(oomKills, 0, `the kernel OOM-killed the service at the chart's limit of ${limit.quantity}\n${svc.tail()}`)
      assert.equal(exit.signal, null, `the service was killed (${exit.signal})\n${svc.tail()}`)
      assert.equal(exit.code, 0, svc.tail())
    }
    assert.ok(await committedToEnd(kafka.bootstrap, group, topic), 'the group committed every partition to its end offset')
    assert.ok(sink.stats().requests > 0, 'the spans were exported')
  })
})
