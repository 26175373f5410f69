/**
 * Real Apache Kafka for tests, chaos runs, benchmarks and `npm run kafka`: KRaft nodes (combined
 * broker+controller) on loopback, one or three with a static quorum, started from the jars of
 * org.apache.kafka:kafka_2.13:<version> that mvn resolves into the local Maven cache (pom.xml
 * beside this file; nothing is downloaded any other way, nothing lands in the repository).
 *
 * Configured as a real cluster: topic auto-creation off, internal topics replicated as far as the
 * node count allows, min.insync.replicas 2 of 3. Every cluster lives in its own temporary
 * directory. stop() kills every JVM and removes the directory; so does the exit of this process
 * (exit hook, SIGINT/SIGTERM when nobody else handles them) and, when this process dies
 * abruptly (SIGKILL), the cluster's watchdog process (watchdog.mjs), which notices its stdin
 * pipe closing.
 */
// The launcher, one concern a module:
//   cluster.ts      ApacheKafka: start, createTopic, coordinatorOf, runTool, clientConfig, stop
//   node.ts         one node's JVM: start, stop, kill, pause, resume, rss, wait until it answers
//   properties.ts   server.properties of a node
//   classpath.ts    Kafka's jars resolved by mvn (pom.xml), cached per version
//   certificates.ts self-signed certificate for the SSL listener (keytool)
//   jvm.ts          finding Java, JVM flags, running a short-lived tool
//   ports.ts        free loopback ports
//   probe.ts        quiet kafkajs clients that ask which nodes answer
//   exit-hooks.ts   killing live clusters when this process exits or is signalled
//   watchdog.mjs    killing them when this process dies abruptly
//   errors.ts       KafkaLauncherError and its codes
//   options.ts      KafkaOptions, DEFAULT_KAFKA_VERSION
export { makeSelfSignedCert } from './certificates.ts'
export { resolveClasspath } from './classpath.ts'
export { ApacheKafka } from './cluster.ts'
export { KafkaLauncherError, type LauncherErrorCode } from './errors.ts'
export type { KafkaNode } from './node.ts'
export { DEFAULT_KAFKA_VERSION, type KafkaOptions } from './options.ts'
export { freePort } from './ports.ts'
