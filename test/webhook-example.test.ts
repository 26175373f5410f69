/**
 * examples/webhook/handler.mjs against a real HTTP server (harness/downstream/: a child process
 * that records every request and answers by rules, SIGKILLed and started again on its port):
 * what it sends, whose fault each answer is, the signal honoured, the probe following the server
 * down and up, its configuration checked at load; then run by the service itself
 * (HANDLER=examples/webhook/handler.mjs) against the mock broker.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { HttpDownstream } from '../harness/downstream/index.ts'
import { eventually, produce } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'
import { isMessageRejected } from '../src/errors.ts'
import type { ConsumedMessage, Handler, Probe } from '../src/message/handler.ts'
import { memoryLog } from './support/memory-log.ts'
import { envOf, parseDockerfile, stages } from './support/ship-dockerfile.ts'

const EXAMPLE = fileURLToPath(new URL('../examples/webhook/handler.mjs', import.meta.url))
const VARIABLES = ['WEBHOOK_URL', 'WEBHOOK_PROBE_URL', 'WEBHOOK_PROBE_METHOD', 'WEBHOOK_AUTHORIZATION']

let instance = 0
/**
 * The module as the service loads it (import() of the file), with `env` as its environment. It
 * reads the environment when it loads, so each configuration is a fresh instance of the module (a
 * query string on its URL).
 */
async function loadExample(env: Record<string, string>): Promise<{ handler: Handler; probe: Probe }> {
  const saved = Object.fromEntries(VARIABLES.map((v) => [v, process.env[v]]))
  for (const v of VARIABLES) delete process.env[v]
  Object.assign(process.env, env)
  try {
    const mod = (await import(`${pathToFileURL(EXAMPLE).href}?instance=${++instance}`)) as { default: Handler; probe: Probe }
    return { handler: mod.default, probe: mod.probe }
  } finally {
    for (const v of VARIABLES) {
      if (saved[v] === undefined) delete process.env[v]
      else process.env[v] = saved[v]
    }
  }
}

const { log } = memoryLog()
const ctx = (signal = AbortSignal.timeout(10_000)) => ({ signal, log })

let offset = 0
function message(value: ConsumedMessage['value'], extra: Partial<ConsumedMessage> = {}): ConsumedMessage {
  return { topic: 'orders', partition: 2, offset: String(offset++), key: Buffer.from('customer-7'), value, headers: {}, timestamp: '1765112400000', ...extra }
}

/** The rejection `p` ends with (fails when it resolves). */
async function failure(p: unknown): Promise<Error & { code?: string; status?: number }> {
  try {
    await p
  } catch (err) {
    return err as Error & { code?: string; status?: number }
  }
  assert.fail('expected a rejection')
}

describe('the webhook example against a real HTTP server', () => {
  let down: HttpDownstream
  let handler: Handler
  let probe: Probe
  before(async () => {
    down = await HttpDownstream.start()
    ;({ handler, probe } = await loadExample({ WEBHOOK_URL: down.hookUrl, WEBHOOK_AUTHORIZATION: 'Bearer s3cret' }))
  })
  after(() => down?.destroy())

  it('2xx: resolves; one POST with the Idempotency-Key, the Authorization and the message as JSON', async () => {
    const m = message({ id: 7, total: 12.5 })
    await handler(m, ctx())
    const [got, ...more] = down.deliveries().filter((r) => r.key === `orders/2/${m.offset}`)
    assert.ok(got)
    assert.equal(more.length, 0)
    assert.equal(got.method, 'POST')
    assert.equal(got.path, '/hook')
    assert.equal(got.status, 200)
    assert.equal(got.headers['content-type'], 'application/json')
    assert.equal(got.headers.authorization, 'Bearer s3cret')
    assert.deepEqual(JSON.parse(got.body), { topic: 'orders', partition: 2, offset: m.offset, timestamp: '1765112400000', key: 'customer-7', value: { id: 7, total: 12.5 } })
  })

  it('sends a text value as a string, a binary one as base64, a tombstone and a missing key as null', async () => {
    const cases = [
      { m: message('plain text'), value: 'plain text' },
      { m: message(Buffer.from([0, 1, 0xff])), value: 'AAH/' },
      { m: message(null, { key: null }), value: null },
    ]
    for (const { m } of cases) await handler(m, ctx())
    const bodies = new Map(down.deliveries().map((r) => [r.key, JSON.parse(r.body) as { key: unknown; value: unknown }]))
    for (const { m, value } of cases) assert.deepEqual(bodies.get(`orders/2/${m.offset}`)?.value, value)
    assert.equal(bodies.get(`orders/2/${cases[2]!.m.offset}`)?.key, null)
  })

  it('4xx (400, 404, 409, 413, 422): the message is at fault, code AMO_MESSAGE_REJECTED with the status', async () => {
    for (const status of [400, 404, 409, 413, 422]) {
      down.answer([{ path: '/hook', status }])
      const err = await failure(handler(message({ id: 1 }), ctx()))
      assert.equal(err.code, 'AMO_MESSAGE_REJECTED', `${status}: ${err.message}`)
      assert.equal(isMessageRejected(err), true)
      assert.equal(err.status, status)
      assert.match(err.message, new RegExp(`refused the message \\(orders/2/\\d+\\) with ${status}`))
    }
    down.answer([])
  })

  it('a rule on the body: only the bad message is refused, the next one is delivered', async () => {
    down.answer([{ bodyIncludes: '"invalid":true', status: 400 }])
    const err = await failure(handler(message({ invalid: true }), ctx()))
    assert.equal(isMessageRejected(err), true)
    await handler(message({ invalid: false }), ctx())
    down.answer([])
  })

  it("5xx, 408, 429, 401, 403 (and 407, a network error to fetch): the downstream's fault, code WEBHOOK_FAILED, never rejected", async () => {
    for (const status of [500, 502, 503, 504, 408, 429, 401, 403, 407]) {
      down.answer([{ path: '/hook', status }])
      const err = await failure(handler(message({ id: 1 }), ctx()))
      assert.equal(isMessageRejected(err), false, `${status}: ${err.message}`)
      assert.equal(err.code, 'WEBHOOK_FAILED')
      assert.equal(err.status, status === 407 ? undefined : status)
    }
    down.answer([])
  })

  it('a hanging server: the handler rejects with the abort reason once the signal aborts', { timeout: 60_000 }, async () => {
    down.answer([{ path: '/hook', hang: true }])
    const controller = new AbortController()
    const m = message({ id: 'slow' })
    const call = handler(m, ctx(controller.signal))
    // The request reached the server, which never answers: only the abort can end the call.
    assert.ok(await eventually(() => down.deliveries().some((r) => r.key === `orders/2/${m.offset}`), 10_000), 'the request reached the server')
    const reason = new Error('handler timeout (test)')
    controller.abort(reason)
    assert.equal(await failure(call), reason)
    assert.equal(down.deliveries().find((r) => r.key === `orders/2/${m.offset}`)?.status, null, 'the server never answered it')
    // Already aborted: no request at all.
    const before = down.received().length
    assert.equal(await failure(handler(message({ id: 'late' }), ctx(AbortSignal.abort(reason)))), reason)
    assert.equal(down.received().length, before)
    down.answer([])
  })

  it('the server SIGKILLed: handler and probe fail (not rejected); started again: both succeed on the same port', async () => {
    assert.equal(await probe(ctx()), 200)
    await down.kill()
    const err = await failure(handler(message({ id: 'during' }), ctx()))
    assert.equal(isMessageRejected(err), false)
    assert.equal(err.code, 'WEBHOOK_FAILED')
    assert.match(err.message, /ECONNREFUSED/)
    const probeErr = await failure(probe(ctx()))
    assert.equal(probeErr.code, 'WEBHOOK_FAILED')
    assert.match(probeErr.message, /^HEAD http:\/\/127\.0\.0\.1:\d+\/hook failed: ECONNREFUSED/)
    await down.start()
    assert.equal(await probe(ctx()), 200)
    const m = message({ id: 'after' })
    await handler(m, ctx())
    assert.equal(down.deliveries().filter((r) => r.key === `orders/2/${m.offset}`).length, 1)
  })

  it("the probe: HEAD of WEBHOOK_URL by default, with the Authorization; passes on 404/405, fails on the handler's downstream statuses", async () => {
    const before = down.received().length
    await probe(ctx())
    const [head] = down.received().slice(before)
    assert.equal(head?.method, 'HEAD')
    assert.equal(head.path, '/hook')
    assert.equal(head.headers.authorization, 'Bearer s3cret')
    for (const status of [404, 405, 400]) {
      down.answer([{ method: 'HEAD', status }])
      assert.equal(await probe(ctx()), status)
    }
    for (const status of [503, 500, 429, 408, 401, 403]) {
      down.answer([{ method: 'HEAD', status }])
      const err = await failure(probe(ctx()))
      assert.equal(err.status, status)
      assert.equal(isMessageRejected(err), false)
    }
    down.answer([])
  })

  it('the probe on a health URL with GET; a hanging health check ends when the signal aborts', { timeout: 60_000 }, async () => {
    const { probe: healthProbe } = await loadExample({ WEBHOOK_URL: down.hookUrl, WEBHOOK_PROBE_URL: down.healthUrl, WEBHOOK_PROBE_METHOD: 'get' })
    const before = down.received().length
    await healthProbe(ctx())
    assert.deepEqual(
      down.received().slice(before).map((r) => `${r.method} ${r.path}`),
      ['GET /health'],
    )
    down.answer([{ path: '/health', status: 503 }])
    assert.equal((await failure(healthProbe(ctx()))).status, 503)
    down.answer([{ path: '/health', hang: true }])
    const controller = new AbortController()
    const check = healthProbe(ctx(controller.signal))
    assert.ok(await eventually(() => down.received().length > before + 2, 10_000), 'the health check reached the server')
    const reason = new Error('probe time limit (test)')
    controller.abort(reason)
    assert.equal(await failure(check), reason)
    down.answer([])
  })

  it('checks its configuration at load, naming the variable', async () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{}, 'WEBHOOK_URL', /^WEBHOOK_URL is required/],
      [{ WEBHOOK_URL: 'not a url' }, 'WEBHOOK_URL', /^WEBHOOK_URL="not a url" is not a URL/],
      [{ WEBHOOK_URL: 'ftp://example.com/x' }, 'WEBHOOK_URL', /must be an http or https URL/],
      [{ WEBHOOK_URL: down.hookUrl, WEBHOOK_PROBE_URL: 'file:///etc/passwd' }, 'WEBHOOK_PROBE_URL', /^WEBHOOK_PROBE_URL=.*must be an http or https URL/],
      [{ WEBHOOK_URL: down.hookUrl, WEBHOOK_PROBE_METHOD: 'POST' }, 'WEBHOOK_PROBE_METHOD', /^WEBHOOK_PROBE_METHOD="POST" must be HEAD or GET/],
    ]
    for (const [env, variable, says] of cases) {
      const err = (await failure(loadExample(env))) as Error & { code?: string; variable?: string }
      assert.equal(err.code, 'AMO_CONFIG_INVALID')
      assert.equal(err.variable, variable)
      assert.match(err.message, says)
    }
  })
})

describe("the webhook example's image", () => {
  it('builds on the service image of this version, copies the handler and points HANDLER at the copy', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    const [stage, ...more] = stages(parseDockerfile(readFileSync(new URL('../examples/webhook/Dockerfile', import.meta.url), 'utf8')))
    assert.equal(more.length, 0)
    assert.equal(stage!.image, `amo-consumer:${version}`)
    const copies = stage!.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args)
    assert.deepEqual(copies, ['handler.mjs /app/handlers/webhook.mjs'])
    assert.equal(envOf(stage!).get('HANDLER'), '/app/handlers/webhook.mjs')
    assert.ok(!stage!.instructions.some((i) => i.keyword === 'USER'), 'the base image user (1000:1000) is kept')
  })
})

describe('the webhook example run by the service (mock broker)', () => {
  let cluster: MockCluster
  let down: HttpDownstream
  before(async () => {
    cluster = MockCluster.start({ brokers: 1, topics: { orders: 3 } })
    down = await HttpDownstream.start()
  })
  after(async () => {
    cluster?.close()
    await down?.destroy()
  })

  it('HANDLER=examples/webhook/handler.mjs: every message POSTed once, with its key; a bad one refused and counted failed', { timeout: 120_000 }, async () => {
    down.answer([{ bodyIncludes: '"invalid":true', status: 422 }])
    const messages = Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: JSON.stringify(i === 7 ? { seq: i, invalid: true } : { seq: i }) }))
    await produce(cluster.brokers, 'orders', messages)
    const svc = startService({
      KAFKA_BROKERS: cluster.brokers.join(','),
      KAFKA_TOPICS: 'orders',
      KAFKA_GROUP_ID: 'webhook-example',
      HANDLER: 'examples/webhook/handler.mjs',
      WEBHOOK_URL: down.hookUrl,
    })
    try {
      assert.ok(await eventually(() => down.deliveries().length >= 30, 60_000), `30 deliveries, got ${down.deliveries().length}\n${svc.tail()}`)
      const keys = down.deliveries().map((r) => r.key!)
      assert.equal(new Set(keys).size, 30, 'no message twice')
      const expected = new Set(Array.from({ length: 30 }, (_, i) => `orders/${i % 3}/${Math.floor(i / 3)}`))
      assert.deepEqual(new Set(keys), expected)
      const refused = down.deliveries().filter((r) => r.status === 422)
      assert.deepEqual(
        refused.map((r) => (JSON.parse(r.body) as { value: unknown }).value),
        [{ seq: 7, invalid: true }],
      )
      assert.ok(await eventually(async () => (await svc.metric('consumer_messages_processed_total', { status: 'failed' })) === 1, 10_000), svc.tail())
      assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), 29)
    } finally {
      const exit = await svc.stop()
      assert.equal(exit.code, 0, svc.tail())
    }
  })

  it('HANDLER=examples/webhook/handler.mjs without WEBHOOK_URL: exit 1, one fatal line naming WEBHOOK_URL, no connection', { timeout: 30_000 }, async () => {
    const svc = startService({ KAFKA_BROKERS: '127.0.0.1:9', HANDLER: 'examples/webhook/handler.mjs' })
    const exit = await svc.exited
    assert.equal(exit.code, 1)
    const fatal = svc.logs.filter((l) => l.level === 60)
    assert.equal(fatal.length, 1, svc.tail())
    assert.match(fatal[0]!.msg, /HANDLER="examples\/webhook\/handler\.mjs": WEBHOOK_URL is required/)
    assert.equal(fatal[0]!.variable, 'WEBHOOK_URL', 'the fatal line names the variable to fix')
    assert.ok(!svc.logs.some((l) => l.component === 'kafkajs'), 'no connection attempted')
  })
})
