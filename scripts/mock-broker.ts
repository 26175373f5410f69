/**
 * Run librdkafka's mock Kafka cluster as a process of its own and print its bootstrap
 * address. `node --import tsx scripts/mock-broker.ts [brokers] [topic:partitions ...]`
 */
import { MockCluster } from '../harness/brokers/mock-cluster.ts'

const brokers = Number(process.argv[2] ?? 1)
const topics = Object.fromEntries(
  (process.argv.slice(3).length ? process.argv.slice(3) : ['weather:3']).map((t) => {
    const [name, n] = t.split(':')
    return [name!, Number(n ?? 3)]
  }),
)
const cluster = MockCluster.start({ brokers, topics })
console.log(JSON.stringify({ bootstrap: cluster.bootstrapServers, topics }))
const stop = () => {
  cluster.close()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
setInterval(() => undefined, 1 << 30)
