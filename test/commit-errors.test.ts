/**
 * src/consumer/commit-errors.ts: what a failed OffsetCommit means — rejoin, retry, may have been
 * written — decided in one place, from kafkajs-shaped errors (`type` for a Kafka protocol error,
 * `name` for kafkajs's own, `code` for a socket).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { commitErrorType, isRebalanceError, isRetriableCommitError, mayHaveBeenWritten } from '../src/consumer/commit-errors.ts'

const protocolError = (type: string, retriable = true): Error => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable })
const kafkaError = (name: string, message: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(message), { name, retriable: true, ...extra })

describe('isRebalanceError and isRetriableCommitError', () => {
  it('the errors that make the member rejoin are rebalance errors, never retried in place', () => {
    for (const type of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']) {
      assert.equal(isRebalanceError(protocolError(type)), true, type)
      assert.equal(isRetriableCommitError(protocolError(type)), false, `${type}: a rejoin, not a retry`)
    }
  })
  it('the coordinator moved or timed out: a retry, not a rejoin', () => {
    for (const type of ['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'REQUEST_TIMED_OUT']) {
      assert.equal(isRebalanceError(protocolError(type)), false, type)
      assert.equal(isRetriableCommitError(protocolError(type)), true, type)
    }
    assert.equal(isRetriableCommitError(protocolError('OFFSET_METADATA_TOO_LARGE', false)), false, 'not retriable: given up at once')
  })
  it('anything that is not a kafkajs error is neither', () => {
    for (const notAnError of [undefined, null, 'REBALANCE_IN_PROGRESS', 27, new Error('REBALANCE_IN_PROGRESS'), { type: undefined }]) {
      assert.equal(isRebalanceError(notAnError), false, String(notAnError))
      assert.equal(isRetriableCommitError(notAnError), false, String(notAnError))
    }
  })
  it('the metric label is the Kafka error type, else the name', () => {
    assert.equal(commitErrorType(protocolError('REQUEST_TIMED_OUT')), 'REQUEST_TIMED_OUT')
    assert.equal(commitErrorType(new TypeError('socket gone')), 'TypeError')
    assert.equal(commitErrorType(undefined), 'Error')
  })
})

describe('mayHaveBeenWritten: which failed commits may have been written', () => {
  it('in doubt: sent and no answer, or the coordinator moved / not available after sending', () => {
    assert.equal(mayHaveBeenWritten(protocolError('NOT_COORDINATOR_FOR_GROUP')), true)
    assert.equal(mayHaveBeenWritten(protocolError('GROUP_COORDINATOR_NOT_AVAILABLE')), true)
    assert.equal(mayHaveBeenWritten(protocolError('REQUEST_TIMED_OUT')), true)
    assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSRequestTimeoutError', 'Request Produce(key: 8, version: 5) timed out')), true)
    assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSConnectionClosedError', 'Closed connection')), true)
    assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSConnectionError', 'Connection error: read ECONNRESET', { code: 'ECONNRESET' })), true)
    assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSConnectionError', 'Connection error: read ECONNRESET')), true, 'no code: the message says it was read')
    const wrapped = Object.assign(new Error('retries'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: protocolError('NOT_COORDINATOR_FOR_GROUP') })
    assert.equal(mayHaveBeenWritten(wrapped), true)
  })
  it('not written: a clean refusal, or a connection that was never opened', () => {
    for (const t of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'OFFSET_METADATA_TOO_LARGE', 'COORDINATOR_LOAD_IN_PROGRESS', 'GROUP_AUTHORIZATION_FAILED']) {
      assert.equal(mayHaveBeenWritten(protocolError(t)), false, t)
    }
    assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSConnectionError', 'Connection timeout')), false)
    assert.equal(mayHaveBeenWritten(new Error('boom')), false)
    assert.equal(mayHaveBeenWritten(undefined), false)
  })
  it('a connection never opened is told the same whether kafkajs gives the socket code or only names it in the message (one list of codes)', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
      assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSConnectionError', `Connection error: connect ${code} 127.0.0.1:9092`, { code })), false, `${code} with code`)
      assert.equal(mayHaveBeenWritten(kafkaError('KafkaJSConnectionError', `Connection error: connect ${code} 127.0.0.1:9092`)), false, `${code} in the message only`)
    }
  })
})
