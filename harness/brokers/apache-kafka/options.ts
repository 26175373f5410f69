/** What a caller chooses about a cluster, and the Kafka version used when they do not. */

/** Newest Kafka 4.x that passes the integration tier (see docs/testing.md). */
export const DEFAULT_KAFKA_VERSION = '4.4.0'

export interface KafkaOptions {
  /** Kafka version (default: env KAFKA_VERSION, else DEFAULT_KAFKA_VERSION). */
  version?: string
  nodes?: 1 | 3
  /** Add a SASL_PLAINTEXT listener (SCRAM-SHA-512) on every node, with a user created at start. */
  sasl?: boolean
  /** Add an SSL listener on every node (self-signed certificate made with keytool). */
  ssl?: boolean
  /** Every line the JVMs print (they also go to <dir>/node-<id>/server.log). */
  log?: (line: string) => void
  /** Extra or overriding server.properties entries, e.g. { 'group.initial.rebalance.delay.ms': '0' }. */
  brokerConfig?: Record<string, string>
}
