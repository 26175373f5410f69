/** src/consumer/window-policy.ts: when the dispatcher sends the next commit window, for every ORDERING. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { windowDue, type WindowState } from '../src/consumer/window-policy.ts'

const state = (over: Partial<WindowState>): WindowState => ({ room: 0, window: 100, queued: 0, running: 0, perMessageMs: 0, rttMs: 1, ...over })

describe('windowDue', () => {
  it('never without room: at most COMMIT_WINDOW past the lowest unfinished message', () => {
    assert.equal(windowDue(state({ room: 0 })), false)
    assert.equal(windowDue(state({ room: -3 })), false)
  })
  it('nothing covered left to start or running: now, whatever the room (COMMIT_WINDOW=1: after each message)', () => {
    assert.equal(windowDue(state({ room: 1, window: 1 })), true)
    assert.equal(windowDue(state({ room: 3, window: 100 })), true)
  })
  it('early only with a quarter of the window free', () => {
    const busy = { queued: 0, running: 50, perMessageMs: 5, rttMs: 1 }
    assert.equal(windowDue(state({ ...busy, room: 24 })), false)
    assert.equal(windowDue(state({ ...busy, room: 25 })), true)
  })
  it('early only when a window takes at least a round trip at the current concurrency (fast handlers: one commit per window)', () => {
    // partition order, a synchronous 1 µs handler, a 2 ms round trip: the window is done long before an early commit could return
    assert.equal(windowDue(state({ room: 60, queued: 40, running: 0, perMessageMs: 0.001, rttMs: 2 })), false)
    // a 5 ms I/O handler, one at a time: early, when what is queued runs out within a round trip
    assert.equal(windowDue(state({ room: 99, queued: 0, running: 1, perMessageMs: 5, rttMs: 1 })), true)
    assert.equal(windowDue(state({ room: 60, queued: 39, running: 1, perMessageMs: 5, rttMs: 1 })), false, 'plenty covered still queued')
  })
  it('key and unordered: the window refills while calls run, as soon as a quarter is free and nothing covered waits', () => {
    assert.equal(windowDue(state({ room: 30, queued: 0, running: 70, perMessageMs: 20, rttMs: 2 })), true)
    assert.equal(windowDue(state({ room: 30, queued: 50, running: 20, perMessageMs: 20, rttMs: 2 })), false, 'keys busy: covered messages still wait')
  })
  it('no estimate yet (no call timed): only when nothing is left', () => {
    assert.equal(windowDue(state({ room: 50, queued: 10, running: 1, perMessageMs: 0 })), false)
  })
})
