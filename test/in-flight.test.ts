/** src/consumer/in-flight.ts: MAX_IN_FLIGHT across partitions, and a freed slot handed to the oldest waiter. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InFlightLimiter } from '../src/consumer/in-flight.ts'

describe('InFlightLimiter', () => {
  it('never more than max slots held', () => {
    const l = new InFlightLimiter(2)
    assert.equal(l.tryAcquire(), true)
    assert.equal(l.tryAcquire(), true)
    assert.equal(l.tryAcquire(), false)
    assert.equal(l.count, 2)
    l.release()
    assert.equal(l.count, 1)
  })
  it('a freed slot goes straight to the oldest waiter, in the order they asked; a newcomer cannot overtake them', async () => {
    const l = new InFlightLimiter(1)
    assert.equal(l.tryAcquire(), true)
    const got: string[] = []
    const a = l.acquire().then(() => void got.push('a'))
    const b = l.acquire().then(() => void got.push('b'))
    const c = l.acquire().then(() => void got.push('c'))
    l.release()
    assert.equal(l.tryAcquire(), false, 'the slot went to the waiter, not to a newcomer')
    await a
    assert.deepEqual(got, ['a'])
    assert.equal(l.count, 1, 'handed over: still one held')
    l.release()
    await b
    l.release()
    await c
    assert.deepEqual(got, ['a', 'b', 'c'])
    l.release()
    assert.equal(l.count, 0)
  })
})
