/** src/message/call-watch.ts: one timer and one listener for every handler call that returned a promise. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CallWatch, type Settled } from '../src/message/call-watch.ts'

const never = new Promise<void>(() => undefined)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

describe('CallWatch', () => {
  it('tells each call once how it ended: ok, error; an ended call is no longer watched', async () => {
    const w = new CallWatch(1000, new AbortController().signal)
    const seen: Settled[] = []
    let fail: (e: unknown) => void = () => undefined
    w.watch(Promise.resolve(), (s) => void seen.push(s))
    w.watch(new Promise((_r, reject) => (fail = reject)), (s) => void seen.push(s))
    assert.equal(w.size, 2)
    await sleep(1)
    fail(new Error('boom'))
    await sleep(1)
    assert.deepEqual(seen.map((s) => s.kind), ['ok', 'error'])
    assert.equal((seen[1] as { error: Error }).error.message, 'boom')
    assert.equal(w.size, 0)
  })
  it('times calls out in start order with one timer; a call that ended is not timed out later', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] })
    const flush = async () => {
      for (let i = 0; i < 5; i++) await Promise.resolve()
    }
    const w = new CallWatch(40, new AbortController().signal)
    const seen: string[] = []
    let finishB: () => void = () => undefined
    w.watch(never, (s) => void seen.push(`a:${s.kind}`))
    w.watch(new Promise<void>((r) => (finishB = r)), (s) => void seen.push(`b:${s.kind}`))
    t.mock.timers.tick(10)
    w.watch(never, (s) => void seen.push(`c:${s.kind}`))
    finishB()
    await flush()
    t.mock.timers.tick(35) // 45 ms: a is past its 40 ms, c (started at 10) is not
    await flush()
    assert.deepEqual(seen, ['b:ok', 'a:timeout'], 'a timed out; c not yet (started later)')
    t.mock.timers.tick(10)
    await flush()
    assert.deepEqual(seen, ['b:ok', 'a:timeout', 'c:timeout'])
    assert.equal(w.size, 0)
  })
  it('no limit with 0: nothing times out', async () => {
    const w = new CallWatch(0, new AbortController().signal)
    const seen: string[] = []
    w.watch(never, (s) => void seen.push(s.kind))
    await sleep(30)
    assert.deepEqual(seen, [])
    assert.equal(w.size, 1)
  })
  it('the deadline ends every call watched, and any watched after it at once; a call settling later changes nothing', async () => {
    const deadline = new AbortController()
    const w = new CallWatch(10_000, deadline.signal)
    const seen: string[] = []
    let finish: () => void = () => undefined
    w.watch(new Promise<void>((r) => (finish = r)), (s) => void seen.push(`a:${s.kind}`))
    w.watch(never, (s) => void seen.push(`b:${s.kind}`))
    deadline.abort()
    assert.deepEqual(seen, ['a:deadline', 'b:deadline'])
    finish()
    await sleep(1)
    w.watch(never, (s) => void seen.push(`c:${s.kind}`))
    assert.deepEqual(seen, ['a:deadline', 'b:deadline', 'c:deadline'], 'told once each')
  })
})
