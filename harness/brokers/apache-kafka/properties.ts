/**
 * server.properties of one node, configured as a real cluster: KRaft combined broker+controller
 * with a static quorum, topic auto-creation off, internal topics replicated as far as the node
 * count allows, min.insync.replicas 2 of 3; SASL_PLAINTEXT (SCRAM-SHA-512) and SSL listeners
 * when the node has ports for them.
 */
import { join } from 'node:path'
import type { Ports } from './ports.ts'

/** What the properties need of a node. */
export interface PropertiesNode {
  readonly id: number
  readonly ports: Ports
  readonly dir: string
}

/** The properties of node `n` in `quorum` (every node of the cluster, `n` included), one per line. */
export function serverProperties(
  n: PropertiesNode,
  quorum: PropertiesNode[],
  brokerConfig: Record<string, string> | undefined,
  cert?: { keystore: string; password: string },
): string {
  const nodeCount = quorum.length
  const rf = Math.min(3, nodeCount)
  const p = n.ports
  const listeners = [`PLAINTEXT://127.0.0.1:${p.plain}`, `CONTROLLER://127.0.0.1:${p.controller}`]
  const advertised = [`PLAINTEXT://127.0.0.1:${p.plain}`]
  if (p.sasl) {
    listeners.push(`SASL_PLAINTEXT://127.0.0.1:${p.sasl}`)
    advertised.push(`SASL_PLAINTEXT://127.0.0.1:${p.sasl}`)
  }
  if (p.ssl) {
    listeners.push(`SSL://127.0.0.1:${p.ssl}`)
    advertised.push(`SSL://127.0.0.1:${p.ssl}`)
  }
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': String(n.id),
    'controller.quorum.voters': quorum.map((m) => `${m.id}@127.0.0.1:${m.ports.controller}`).join(','),
    listeners: listeners.join(','),
    'advertised.listeners': advertised.join(','),
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL',
    'log.dirs': join(n.dir, 'data'),
    // As real clusters run: no topic appears because a client asked for it.
    'auto.create.topics.enable': 'false',
    'num.partitions': '1',
    'default.replication.factor': String(rf),
    'min.insync.replicas': String(Math.min(2, nodeCount)),
    'offsets.topic.replication.factor': String(rf),
    'transaction.state.log.replication.factor': String(rf),
    'transaction.state.log.min.isr': String(Math.min(2, nodeCount)),
    'share.coordinator.state.topic.replication.factor': String(rf),
    'share.coordinator.state.topic.min.isr': String(Math.min(2, nodeCount)),
    'num.network.threads': '2',
    'num.io.threads': '4',
    'num.recovery.threads.per.data.dir': '1',
    'log.segment.bytes': String(64 * 1024 * 1024),
    'log.retention.hours': '24',
  }
  if (p.sasl) {
    props['sasl.enabled.mechanisms'] = 'SCRAM-SHA-512'
    props['listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config'] = 'org.apache.kafka.common.security.scram.ScramLoginModule required;'
  }
  if (p.ssl && cert) {
    props['listener.name.ssl.ssl.keystore.type'] = 'PKCS12'
    props['listener.name.ssl.ssl.keystore.location'] = cert.keystore
    props['listener.name.ssl.ssl.keystore.password'] = cert.password
    props['listener.name.ssl.ssl.key.password'] = cert.password
    props['listener.name.ssl.ssl.client.auth'] = 'none'
  }
  Object.assign(props, brokerConfig ?? {})
  return Object.entries(props)
    .map(([k, v]) => `${k}=${v.replace(/\\/g, '\\\\')}`)
    .join('\n')
}
