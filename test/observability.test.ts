/**
 * What operators page on, checked with real tools: promtool checks and unit-tests the alert rules,
 * lints a real scrape of the service (a child process against the mock broker), and checks that
 * every expression of the rules and of the Grafana dashboard parses and names only metrics the
 * service exports. Then Debian's Prometheus server scrapes the service with the alert rules
 * loaded, and every query the docs suggest (and every dashboard query) must return data, the loss
 * counters at 0, with every rule evaluated without error and no alert raised by a healthy service.
 *
 * Needs `promtool` and `prometheus` (Debian/Ubuntu: apt-get install -y prometheus) and librdkafka
 * (the mock broker); a missing tool fails the test with that advice.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Producer } from 'kafkajs'
import { parse } from 'yaml'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { client, eventually, sequence, sleep } from '../harness/kafka-tools.ts'
import { startService, type ServiceProcess } from '../harness/service-process.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yml')
const ALERTS_TEST = join(ROOT, 'deploy/prometheus/alerts.test.yml')
const DASHBOARD = join(ROOT, 'deploy/grafana/dashboards/amo-consumer.json')
const OPERATIONS = join(ROOT, 'docs/operations.md')
const INSTALL = 'apt-get install -y prometheus'

// ---------------------------------------------------------------------------------------------
// Tools and files
// ---------------------------------------------------------------------------------------------

function promtool(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', ...(input === undefined ? {} : { input }) })
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    assert.fail(`promtool is not installed; on Debian/Ubuntu: ${INSTALL}`)
  }
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
const ruleFile = parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }
const alertRules = ruleFile.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => !!r.alert)

interface Target {
  expr?: string
  refId?: string
}
interface Panel {
  type: string
  title?: string
  datasource?: { type?: string; uid?: string }
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: { name: string; type: string; query?: unknown; datasource?: { uid?: string } }[] }
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard
const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
const dashboardQueries = allPanels(dashboard.panels).flatMap((p) =>
  (p.targets ?? []).filter((t) => t.expr).map((t) => ({ panel: p.title ?? p.type, expr: t.expr! })),
)

/** Grafana's variables replaced by values Prometheus accepts (all jobs and instances, 1 minute). */
function grafanaToPromql(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval/g, '1m')
    .replace(/\$__range/g, '1h')
    .replace(/\$\{?\w+\}?/g, '.+')
}

/**
 * Metric names a (valid) PromQL expression selects: what is left once strings, label matchers,
 * ranges and grouping clauses are removed, minus functions, aggregations and keywords.
 */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan'])
function metricNames(expr: string): Set<string> {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const m of s.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const i = m.index
    if (i > 0 && /[\w.]/.test(s[i - 1] ?? '')) continue // part of a number (1e3) or a duration
    if (s.slice(i + m[0].length).trimStart().startsWith('(')) continue // function or aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue
    names.add(m[0])
  }
  return names
}

/** Names a /metrics text exports, with the _bucket/_sum/_count series of histograms and summaries. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = m
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s)
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s)
    else names.add(name)
  }
  return names
}

/** The metric families of a scrape whose name starts with `prefix` (HELP, TYPE and samples). */
function familiesWithPrefix(text: string, prefix: string): string {
  return (
    text
      .split('\n')
      .filter((l) => (l.startsWith('# ') ? l.split(' ')[2]?.startsWith(prefix) : l.startsWith(prefix)))
      .join('\n') + '\n'
  )
}

/** The queries the docs suggest: ```promql blocks of docs/operations.md and README.md, README's
 *  inline PromQL, and the example queries in deploy/prometheus/prometheus.yml's comments. */
function suggestedQueries(): { source: string; expr: string }[] {
  const out: { source: string; expr: string }[] = []
  for (const file of ['docs/operations.md', 'README.md']) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    for (const m of text.matchAll(/```promql\n([\s\S]*?)```/g)) out.push({ source: file, expr: (m[1] ?? '').trim() })
    const prose = text.replace(/```[\s\S]*?```/g, '')
    for (const m of prose.matchAll(/`([^`\n]*\bconsumer_[^`\n]*)`/g)) {
      const expr = m[1] ?? ''
      if (/\w\(/.test(expr)) out.push({ source: file, expr })
    }
  }
  const promConfig = readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')
  for (const m of promConfig.matchAll(/^#\s{3,}(\S.*\bconsumer_.*)$/gm)) {
    out.push({ source: 'deploy/prometheus/prometheus.yml', expr: (m[1] ?? '').trim() })
  }
  const seen = new Set<string>()
  return out.filter((q) => !seen.has(q.expr) && seen.add(q.expr))
}

/** GitHub's anchor for a Markdown heading. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-')

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise((resolve) => srv.close(resolve))
  return port
}

// ---------------------------------------------------------------------------------------------
// The service under observation: a child process against the mock broker
// ---------------------------------------------------------------------------------------------

const TOPIC = 'obs'
const PARTITIONS = 3
let cluster: MockCluster
let svc: ServiceProcess
/** The scrape taken right after the service became ready, before any message. */
let firstScrape = ''
/** A scrape after messages were processed. */
let busyScrape = ''

before(async () => {
  cluster = MockCluster.start({ brokers: 1, topics: { [TOPIC]: PARTITIONS } })
  svc = startService({ KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: TOPIC, KAFKA_GROUP_ID: 'g-obs', HANDLER: 'noop' })
  await svc.waitReady(60_000)
  firstScrape = (await svc.get('/metrics')).body
  const producer = client(cluster.brokers).producer({ allowAutoTopicCreation: false })
  await producer.connect()
  await producer.send({ topic: TOPIC, messages: sequence(300, PARTITIONS) })
  await producer.disconnect()
  assert.ok(
    await eventually(async () => (await svc.metric('consumer_messages_processed_total', { status: 'ok' })) === 300, 30_000),
    `300 messages processed\n${svc.tail()}`,
  )
  busyScrape = (await svc.get('/metrics')).body
})

after(async () => {
  await svc?.stop()
  cluster?.close()
})

// ---------------------------------------------------------------------------------------------

describe('alert rules (deploy/prometheus/alerts.yml)', () => {
  it('pass `promtool check rules`', () => {
    const r = promtool(['check', 'rules', ALERTS])
    assert.equal(r.status, 0, r.out)
    assert.match(r.out, new RegExp(`SUCCESS: ${ruleFile.groups.flatMap((g) => g.rules).length} rules found`))
  })

  it('pass their unit tests (`promtool test rules deploy/prometheus/alerts.test.yml`)', () => {
    const r = promtool(['test', 'rules', ALERTS_TEST])
    assert.equal(r.status, 0, r.out)
    assert.match(r.out, /SUCCESS/)
  })

  it('every alert has a unit test where it fires and one where it stays quiet', () => {
    const tests = parse(readFileSync(ALERTS_TEST, 'utf8')) as {
      rule_files: string[]
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[]
    }
    assert.deepEqual(tests.rule_files, ['alerts.yml'])
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? [])
    for (const { alert } of alertRules) {
      const mine = cases.filter((c) => c.alertname === alert)
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert}: no test case where it fires`)
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert}: no test case where it stays quiet`)
    }
  })

  it('cover what operators page on', () => {
    const exprs = alertRules.map((r) => r.expr).join('\n')
    for (const needed of [
      'consumer_ready', // not ready too long
      'consumer_crashes_total{restart="false"}', // crashed for good
      'up{', // down
      'consumer_messages_lost_total', // any lost message
      'consumer_commit_errors_total', // commit error rate
      'consumer_lag', // lag high and growing
      'consumer_messages_at_risk', // processing stalled
      'consumer_commit_duration_seconds_bucket', // commit latency p99
      'consumer_rebalances_total', // rebalance storm
    ]) {
      assert.ok(exprs.includes(needed), `no alert uses ${needed}`)
    }
  })

  it('is a plain rule file the chart can embed, each alert with severity, summary, description and a runbook entry in docs/operations.md', () => {
    assert.deepEqual(Object.keys(ruleFile), ['groups'], 'only `groups:` at the top (a PrometheusRule spec)')
    const anchors = new Set([...readFileSync(OPERATIONS, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map((m) => slug(m[1] ?? '')))
    const names = new Set<string>()
    for (const r of alertRules) {
      assert.ok(!names.has(r.alert), `${r.alert} defined twice`)
      names.add(r.alert)
      assert.match(r.alert, /^AmoConsumer[A-Z]\w+$/)
      assert.ok(['critical', 'warning'].includes(r.labels?.severity ?? ''), `${r.alert}: severity critical or warning`)
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`)
      const runbook = r.annotations.runbook ?? ''
      const m = /^docs\/operations\.md#([\w-]+)$/.exec(runbook)
      assert.ok(m, `${r.alert}: runbook annotation "docs/operations.md#<anchor>", got "${runbook}"`)
      assert.ok(anchors.has(m[1] ?? ''), `${r.alert}: docs/operations.md has no heading for #${m[1]}`)
    }
  })
})

describe('the dashboard (deploy/grafana/dashboards/amo-consumer.json)', () => {
  it('has a stable uid and takes its data source from a variable', () => {
    assert.equal(dashboard.uid, 'amo-consumer')
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource')
    assert.ok(ds && ds.type === 'datasource' && ds.query === 'prometheus', 'a `datasource` variable of type prometheus')
    for (const p of allPanels(dashboard.panels).filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" uses the datasource variable`)
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      assert.equal(v.datasource?.uid, '${datasource}', `variable ${v.name} uses the datasource variable`)
    }
  })

  it('shows throughput by status, commits and their latency, lag, at-risk, loss by reason, rebalances, crashes and the process', () => {
    const exprs = dashboardQueries.map((q) => q.expr).join('\n')
    for (const needed of [
      'sum by (status) (rate(consumer_messages_processed_total',
      'consumer_messages_committed_total',
      'histogram_quantile(0.99, sum by (le) (rate(consumer_commit_duration_seconds_bucket',
      'consumer_commit_errors_total',
      'consumer_lag',
      'consumer_messages_at_risk',
      'sum by (reason) (increase(consumer_messages_lost_total',
      'consumer_rebalances_total',
      'consumer_crashes_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      assert.ok(exprs.includes(needed), `no dashboard query has ${needed}`)
    }
  })
})

describe('metrics of the running service', () => {
  it('series with known labels read 0 from the first scrape, per partition from its assignment', () => {
    const zero = (name: string, labels: string) =>
      assert.match(firstScrape, new RegExp(`^${name}\\{${labels}\\} 0$`, 'm'), `${name}{${labels}} 0 in the first scrape`)
    for (const reason of ['handler_failed', 'handler_timeout', 'undecodable', 'shutdown', 'commit_written']) zero('consumer_messages_lost_total', `reason="${reason}"`)
    assert.match(firstScrape, /^consumer_messages_in_doubt_total 0$/m)
    for (const restart of ['true', 'false']) zero('consumer_crashes_total', `restart="${restart}"`)
    for (const result of ['sent', 'failed', 'dropped']) zero('consumer_dead_letter_total', `result="${result}"`)
    assert.match(firstScrape, /^consumer_commit_errors_total\{mode="sync",error="REBALANCE_IN_PROGRESS"\} 0$/m)
    assert.match(firstScrape, /^consumer_rebalances_total 0$/m)
    for (let p = 0; p < PARTITIONS; p++) {
      const tp = `topic="${TOPIC}",partition="${p}"`
      for (const status of ['ok', 'failed']) zero('consumer_messages_processed_total', `${tp},status="${status}"`)
      for (const reason of ['undecodable', 'dropped_at_shutdown']) zero('consumer_messages_skipped_total', `${tp},reason="${reason}"`)
      zero('consumer_messages_committed_total', tp)
      zero('consumer_messages_at_risk', tp)
      zero('consumer_lag', tp)
    }
  })

  it('carry consumer_build_info{version,kafkajs,node} = 1', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    const kafkajs = JSON.parse(readFileSync(join(ROOT, 'node_modules/kafkajs/package.json'), 'utf8')) as { version: string }
    const m = /^consumer_build_info\{version="([^"]*)",kafkajs="([^"]*)",node="([^"]*)"\} 1$/m.exec(firstScrape)
    assert.ok(m, 'consumer_build_info in the scrape')
    assert.deepEqual(m.slice(1), [pkg.version, kafkajs.version, process.version])
  })

  it('`promtool check metrics` is clean for the service\'s own metrics', (t) => {
    const own = promtool(['check', 'metrics'], familiesWithPrefix(busyScrape, 'consumer_'))
    assert.equal(own.status, 0, own.out)
    assert.equal(own.out.trim(), '')
    // The whole scrape: only prom-client's default metrics may draw remarks (reported, not ours).
    const all = promtool(['check', 'metrics'], busyScrape)
    const remarks = all.out.split('\n').filter(Boolean)
    for (const line of remarks) assert.match(line, /^(nodejs|process)_/, `a remark about a metric of ours: ${line}`)
    t.diagnostic(`promtool check metrics, whole scrape: ${remarks.length ? remarks.join('; ') : 'clean'}`)
  })

  it('every expression of the rules and the dashboard parses and names only metrics the service exports', (t) => {
    const exported = exportedNames(busyScrape)
    exported.add('up') // Prometheus' own series for every target
    const exprs = [
      ...alertRules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
      ...dashboardQueries.map((q) => ({ where: `panel "${q.panel}"`, expr: grafanaToPromql(q.expr) })),
    ]
    // Grafana's label_values(metric, label) variable queries name metrics too.
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'object' && v.query ? (v.query as { query?: string }).query : undefined
      const m = q ? /^label_values\((.+),\s*\w+\)$/.exec(q) : undefined
      if (m) exprs.push({ where: `variable ${v.name}`, expr: grafanaToPromql(m[1] ?? '') })
    }
    // Parse them all with promtool: each becomes a recording rule of a throwaway rule file.
    const dir = mkdtempSync(join(tmpdir(), 'amo-obs-exprs-'))
    try {
      const file = join(dir, 'exprs.yml')
      const rules = exprs.map((e, i) => ({ record: `expr:check_${i}`, expr: e.expr }))
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'exprs', rules }] }, null, 2))
      const r = promtool(['check', 'rules', file])
      assert.equal(r.status, 0, `an expression does not parse:\n${r.out}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    let named = 0
    for (const { where, expr } of exprs) {
      const names = metricNames(expr)
      assert.ok(names.size > 0, `${where}: no metric found in ${expr}`)
      for (const n of names) {
        named++
        assert.ok(exported.has(n), `${where} uses ${n}, which the service does not export (${expr})`)
      }
    }
    t.diagnostic(`${exprs.length} expressions parsed, ${named} metric references, all exported`)
  })
})

// ---------------------------------------------------------------------------------------------
// A real Prometheus server scraping the service
// ---------------------------------------------------------------------------------------------

interface PromResult {
  status: string
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }
  error?: string
}

describe('a real Prometheus server scraping the service', () => {
  let prometheus: ChildProcess | undefined
  let promLog = ''
  let base = ''
  let storage = ''
  let producer: Producer | undefined
  let producing: Promise<void> | undefined
  let stopProducing = false

  async function api<T>(path: string): Promise<T> {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) })
    return (await res.json()) as T
  }
  const query = (expr: string) => api<PromResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`)

  before(async () => {
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    storage = mkdtempSync(join(tmpdir(), 'amo-prometheus-'))
    const config = join(storage, 'prometheus.yml')
    writeFileSync(
      config,
      JSON.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [ALERTS],
        scrape_configs: [{ job_name: 'amo-consumer', static_configs: [{ targets: [`127.0.0.1:${svc.port}`], labels: { app_kubernetes_io_name: 'amo-consumer' } }] }],
      }),
    )
    const child = spawn(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${join(storage, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    prometheus = child
    child.stdout.on('data', (c: Buffer) => (promLog += c.toString()))
    child.stderr.on('data', (c: Buffer) => (promLog += c.toString()))
    const spawnError = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      child.once('error', resolve)
      child.once('spawn', () => resolve(undefined))
    })
    if (spawnError?.code === 'ENOENT') assert.fail(`the prometheus server is not installed; on Debian/Ubuntu: ${INSTALL}`)
    if (spawnError) throw spawnError

    // Keep messages flowing so that rates and the commit latency have something to show.
    producer = client(cluster.brokers).producer({ allowAutoTopicCreation: false })
    await producer.connect()
    let seq = 300
    producing = (async () => {
      while (!stopProducing) {
        await producer!.send({ topic: TOPIC, messages: sequence(30, PARTITIONS, seq) })
        seq += 30
        await sleep(250)
      }
    })()

    const ready = await eventually(async () => {
      if (child.exitCode !== null) return true
      const r = await fetch(`${base}/-/ready`).catch(() => undefined)
      return r?.status === 200
    }, 30_000)
    assert.ok(ready && child.exitCode === null, `prometheus did not start:\n${promLog.slice(-3000)}`)
    // At least 10 scrapes, and every rule evaluated at least once.
    const scraped = await eventually(async () => {
      const r = await query('count_over_time(consumer_ready[1m])')
      return Number(r.data?.result[0]?.value[1] ?? 0) >= 10
    }, 60_000, 500)
    assert.ok(scraped, `prometheus did not collect 10 scrapes of the service:\n${promLog.slice(-3000)}`)
    const evaluated = await eventually(async () => {
      const r = await api<{ data: { groups: { rules: { lastEvaluation: string }[] }[] } }>('/api/v1/rules')
      const rules = r.data.groups.flatMap((g) => g.rules)
      return rules.length > 0 && rules.every((x) => !x.lastEvaluation.startsWith('0001-'))
    }, 30_000, 500)
    assert.ok(evaluated, 'every rule was evaluated')
  })

  after(async () => {
    stopProducing = true
    await producing?.catch(() => undefined)
    await producer?.disconnect().catch(() => undefined)
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve))
      prometheus.kill('SIGTERM')
      const timer = setTimeout(() => prometheus!.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    if (storage) rmSync(storage, { recursive: true, force: true })
  })

  it('loads the alert rules, evaluates each without error, and a healthy service raises no alert', async (t) => {
    const r = await api<{
      data: { groups: { name: string; file: string; rules: { name: string; type: string; health: string; lastError?: string }[] }[] }
    }>('/api/v1/rules')
    const rules = r.data.groups.flatMap((g) => g.rules)
    assert.deepEqual(
      rules.map((x) => x.name).sort(),
      alertRules.map((x) => x.alert).sort(),
      'Prometheus loaded every alert of alerts.yml',
    )
    for (const rule of rules) {
      assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`)
      assert.ok(!rule.lastError, `${rule.name}: ${rule.lastError}`)
    }
    const alerts = await api<{ data: { alerts: { labels: Record<string, string>; state: string }[] } }>('/api/v1/alerts')
    assert.deepEqual(
      alerts.data.alerts.map((a) => `${a.labels.alertname} ${a.state}`),
      [],
      'no alert pending or firing for a healthy service',
    )
    t.diagnostic(`${rules.length} rules loaded, health ok, no alert`)
  })

  it('the loss counters read 0, as a value', async () => {
    const lost = await query('consumer_messages_lost_total')
    assert.equal(lost.status, 'success')
    assert.deepEqual(lost.data.result.map((s) => s.metric.reason).sort(), ['commit_written', 'handler_failed', 'handler_timeout', 'revoked', 'shutdown', 'undecodable'])
    for (const s of lost.data.result) assert.equal(s.value[1], '0', `lost{reason="${s.metric.reason}"}`)
    const inDoubt = await query('increase(consumer_messages_in_doubt_total[1h])')
    assert.equal(inDoubt.data.result.length, 1, 'the in-doubt counter is a value too')
    assert.equal(Number(inDoubt.data.result[0]!.value[1]), 0)
    // The query that answered "no data" on a healthy service before the series started at 0.
    for (const expr of ['increase(consumer_messages_lost_total[1h])', 'sum by (reason) (increase(consumer_messages_lost_total[1h]))']) {
      const increase = await query(expr)
      assert.equal(increase.data.result.length, 6, expr)
      for (const s of increase.data.result) assert.equal(Number(s.value[1]), 0, `${expr}: reason="${s.metric.reason}"`)
    }
  })

  it('every query the docs suggest returns data', async (t) => {
    const queries = suggestedQueries()
    assert.ok(queries.filter((q) => q.source === 'docs/operations.md').length >= 10, 'docs/operations.md suggests queries')
    const empty: string[] = []
    for (const { source, expr } of queries) {
      const r = await query(expr)
      assert.equal(r.status, 'success', `${source}: ${expr}: ${r.error}`)
      const values = r.data.result.map((s) => s.value[1])
      t.diagnostic(`${source}: ${expr} -> ${values.length} series [${values.slice(0, 4).join(', ')}${values.length > 4 ? ', …' : ''}]`)
      if (values.length === 0) empty.push(`${source}: ${expr}`)
    }
    assert.deepEqual(empty, [], 'queries without data')
  })

  it('every dashboard query returns data', async (t) => {
    const empty: string[] = []
    for (const { panel, expr } of dashboardQueries) {
      const promql = grafanaToPromql(expr)
      const r = await query(promql)
      assert.equal(r.status, 'success', `panel "${panel}": ${promql}: ${r.error}`)
      const values = r.data.result.map((s) => s.value[1])
      t.diagnostic(`panel "${panel}": ${promql} -> ${values.length} series [${values.slice(0, 4).join(', ')}${values.length > 4 ? ', …' : ''}]`)
      if (values.length === 0) empty.push(`panel "${panel}": ${promql}`)
    }
    assert.deepEqual(empty, [], 'dashboard queries without data')
  })
})
