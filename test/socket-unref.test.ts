/**
 * The `MaxListenersExceededWarning: … connect listeners added to [Socket]` of a coordinator outage
 * (src/consumer/kafka-client.ts, unrefSafe): kafkajs's real Connection, connecting to a port where
 * nothing listens and then disconnected again and again as kafkajs does while a broker is down.
 * With kafkajs's own socket factory every disconnect() leaves a 'connect' listener on the dead
 * socket; with the service's factory none.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { noDelaySocketFactory } from '../src/consumer/kafka-client.ts'

const require = createRequire(import.meta.url)
const Connection = require('kafkajs/src/network/connection.js') as new (o: Record<string, unknown>) => {
  socket: net.Socket
  connect(): Promise<unknown>
  disconnect(): Promise<unknown>
}
const { createLogger, LEVELS } = require('kafkajs/src/loggers/index.js') as {
  createLogger: (o: { level: number; logCreator: () => () => void }) => unknown
  LEVELS: { NOTHING: number }
}
const defaultSocketFactory = (require('kafkajs/src/network/socketFactory.js') as () => unknown)()

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** How many 'connect' listeners ten more disconnect() calls leave on the dead socket. */
async function listenersAddedByTenDisconnects(socketFactory: unknown): Promise<number> {
  const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined })
  const conn = new Connection({ host: '127.0.0.1', port: await closedPort(), logger, socketFactory, requestTimeout: 1000, connectionTimeout: 1000 })
  await assert.rejects(conn.connect(), /ECONNREFUSED/)
  assert.ok(conn.socket.destroyed, 'the failed socket is destroyed')
  const before = conn.socket.listenerCount('connect')
  for (let i = 0; i < 10; i++) await conn.disconnect()
  return conn.socket.listenerCount('connect') - before
}

describe('sockets of a broker that is down', () => {
  it("kafkajs's own factory: every disconnect() of the dead socket adds a 'connect' listener (the leak)", async () => {
    assert.equal(await listenersAddedByTenDisconnects(defaultSocketFactory), 10)
  })
  it("the service's factory: none, however often kafkajs disconnects", async () => {
    assert.equal(await listenersAddedByTenDisconnects(noDelaySocketFactory), 0)
  })
})
