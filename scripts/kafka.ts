/**
 * npm run kafka -- [--nodes=3] [--sasl] [--ssl] [--topic=name:partitions ...] [--verbose]
 *
 * A local Apache Kafka (KRaft, loopback) for trying the service by hand: KAFKA_VERSION selects
 * the version. Prints the bootstrap list(s) and stays up until Ctrl-C / SIGTERM, then stops
 * every JVM and removes its directory.
 */
import { parseArgs } from 'node:util'
import { ApacheKafka, DEFAULT_KAFKA_VERSION, KafkaLauncherError } from '../harness/brokers/apache-kafka/index.ts'

const USAGE = 'usage: npm run kafka -- [--nodes=1|3] [--sasl] [--ssl] [--topic=name:partitions ...] [--verbose]   (env KAFKA_VERSION)'

function parse() {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '1' },
      sasl: { type: 'boolean', default: false },
      ssl: { type: 'boolean', default: false },
      topic: { type: 'string', multiple: true, default: [] },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (values.nodes !== '1' && values.nodes !== '3') throw new Error(`--nodes must be 1 or 3\n${USAGE}`)
  const topics = values.topic.map((t) => {
    const m = /^([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(t)
    if (!m) throw new Error(`--topic=${t}: expected name or name:partitions\n${USAGE}`)
    return { name: m[1]!, partitions: Number(m[2] ?? 1) }
  })
  return { nodes: Number(values.nodes) as 1 | 3, sasl: values.sasl, ssl: values.ssl, topics, verbose: values.verbose }
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>
  try {
    args = parse()
  } catch (err) {
    console.error((err as Error).message)
    process.exit(2)
  }
  const version = process.env.KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION
  console.log(`starting Apache Kafka ${version}: ${args.nodes} KRaft node${args.nodes > 1 ? 's' : ''}${args.sasl ? ', SASL/SCRAM-SHA-512' : ''}${args.ssl ? ', TLS' : ''} ...`)
  let kafka: ApacheKafka
  try {
    kafka = await ApacheKafka.start({
      version,
      nodes: args.nodes,
      sasl: args.sasl,
      ssl: args.ssl,
      ...(args.verbose ? { log: (l: string) => console.log(l) } : {}),
    })
  } catch (err) {
    console.error(err instanceof KafkaLauncherError ? `cannot start Kafka (${err.code}): ${err.message}` : err)
    process.exit(1)
  }

  let stopping = false
  const stop = async (sig: string) => {
    if (stopping) return
    stopping = true
    console.log(`\n${sig}: stopping Kafka ...`)
    await kafka.stop()
    console.log('stopped; directory removed')
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))

  for (const t of args.topics) {
    await kafka.createTopic(t.name, t.partitions)
    console.log(`topic ${t.name}: ${t.partitions} partition(s), replication ${Math.min(3, args.nodes)}`)
  }
  console.log(`Apache Kafka ${kafka.version} up in ${kafka.startMs} ms (directory ${kafka.dir})`)
  console.log(`  PLAINTEXT      KAFKA_BROKERS=${kafka.bootstrap.join(',')}`)
  if (kafka.sasl) {
    console.log(`  SASL_PLAINTEXT KAFKA_BROKERS=${kafka.sasl.bootstrap.join(',')}`)
    console.log(`                 KAFKA_SASL_MECHANISM=${kafka.sasl.mechanism} KAFKA_SASL_USERNAME=${kafka.sasl.username} KAFKA_SASL_PASSWORD=${kafka.sasl.password}`)
  }
  if (kafka.ssl) {
    console.log(`  SSL            KAFKA_BROKERS=${kafka.ssl.bootstrap.join(',')} KAFKA_SSL=true`)
    console.log(`                 CA certificate (PEM): ${kafka.ssl.caFile}  (e.g. NODE_EXTRA_CA_CERTS=${kafka.ssl.caFile})`)
  }
  for (const n of kafka.nodes) console.log(`  node ${n.id}: pid ${n.pid}, RSS ${Math.round((n.rss() ?? 0) / 1048576)} MB`)
  console.log('Ctrl-C to stop.')
  setInterval(() => {}, 1 << 30)
}

void main()
