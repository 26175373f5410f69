/**
 * Preload for service processes run against librdkafka's MOCK cluster only (never in production,
 * never against Apache Kafka). The harness adds it as `node --import <this file> dist/server.js`
 * (see mockServiceArgs in harness/brokers/mock-cluster.ts) when several members share one group.
 *
 * The quirk: librdkafka 2.0.2's mock group coordinator completes a SyncGroup round as soon as
 * the leader's assignment arrives and answers a follower's SyncGroup that comes later with
 * INVALID_REQUEST (42), which kafkajs 2.2.4 treats as fatal (the consumer crashes for good).
 * Apache Kafka answers a follower's SyncGroup whenever it comes. So on the mock, the group
 * leader here waits LEADER_SYNC_DELAY_MS after computing a multi-member assignment, letting the
 * followers' SyncGroup requests reach the coordinator first.
 *
 * How the patch takes effect: kafkajs's consumer binds its default assigner once, when
 * src/consumer/index.js is loaded (`const { roundRobin } = require('./assigners')`, used as the
 * default of `partitionAssigners`). This preload runs before the service imports kafkajs, so it
 * replaces `roundRobin` on that shared CommonJS exports object first; the consumer then
 * destructures the wrapper. The protocol name and version stay RoundRobinAssigner/0.
 * Anything unexpected (another kafkajs version, another module shape) stops the process with
 * a message, so the patch cannot silently do nothing.
 */
import { createRequire } from 'node:module'

const LEADER_SYNC_DELAY_MS = Number(process.env.AMO_MOCK_LEADER_SYNC_DELAY_MS ?? 300)

const require = createRequire(import.meta.url)
const fail = (why) => {
  throw new Error(`mock-quirks preload: ${why}; the leader-SyncGroup workaround for the mock cluster cannot be applied`)
}

const { version } = require('kafkajs/package.json')
if (!/^2\.2\./.test(version)) fail(`written for kafkajs 2.2.x, found ${version}`)
const consumerPath = require.resolve('kafkajs/src/consumer/index.js')
if (require.cache[consumerPath]) fail('kafkajs was loaded before the preload (its default assigner is already bound)')

const assigners = require('kafkajs/src/consumer/assigners/index.js')
const roundRobin = assigners.roundRobin
if (typeof roundRobin !== 'function') fail('kafkajs/src/consumer/assigners has no roundRobin assigner')

function roundRobinFollowersFirst(config) {
  const inner = roundRobin(config)
  return {
    ...inner,
    async assign(group) {
      const assignment = await inner.assign(group)
      if (group.members.length > 1) await new Promise((resolve) => setTimeout(resolve, LEADER_SYNC_DELAY_MS))
      return assignment
    },
  }
}
assigners.roundRobin = roundRobinFollowersFirst

// Load the consumer module now: it binds the wrapper, whatever imports kafkajs next.
require(consumerPath)
process.stderr.write(`[mock-quirks] kafkajs ${version}: group leader syncs ${LEADER_SYNC_DELAY_MS} ms after its followers (mock cluster only)\n`)
