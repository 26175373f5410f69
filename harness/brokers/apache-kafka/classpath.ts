/**
 * The classpath of a Kafka version: resolved by mvn from pom.xml (beside this file) into the local
 * Maven cache, and remembered in a cache file per version and pom content.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KafkaLauncherError } from './errors.ts'

const POM = fileURLToPath(new URL('pom.xml', import.meta.url))

/** Where resolved classpaths are cached: one file per Kafka version and pom content. */
function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : tmpdir())
  return join(base, 'amo-consumer', 'kafka-classpath')
}

/**
 * The classpath of Kafka `version` plus its SLF4J binding: resolved by mvn into the local Maven
 * cache the first time, then read from a cache file (checked: every jar must still exist).
 */
export function resolveClasspath(version: string): string {
  if (!/^\d+\.\d+\.\d+([.-][\w.-]+)?$/.test(version)) {
    throw new KafkaLauncherError('RESOLVE_FAILED', `KAFKA_VERSION=${JSON.stringify(version)} is not a Kafka version such as 4.4.0 or 3.9.2`)
  }
  const pomHash = createHash('sha256').update(readFileSync(POM)).digest('hex').slice(0, 12)
  const dir = cacheDir()
  const file = join(dir, `kafka_2.13-${version}-${pomHash}.classpath`)
  if (existsSync(file)) {
    const cp = readFileSync(file, 'utf8').trim()
    if (cp && cp.split(':').every((jar) => existsSync(jar))) return cp
  }
  mkdirSync(dir, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  const r = spawnSync(
    'mvn',
    ['-q', '-B', '-f', POM, 'dependency:build-classpath', `-Dkafka.version=${version}`, `-Dmdep.outputFile=${tmp}`, '-Dmdep.pathSeparator=:'],
    { encoding: 'utf8', timeout: 600_000 },
  )
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new KafkaLauncherError(
      'MVN_MISSING',
      'Apache Kafka is resolved with Maven, and `mvn` is not on PATH. Install it, e.g. `sudo apt-get install -y maven` ' +
        '(it needs access to Maven Central, or the artifacts already in ~/.m2).',
    )
  }
  if (r.status !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true })
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
    throw new KafkaLauncherError(
      'RESOLVE_FAILED',
      `mvn could not resolve org.apache.kafka:kafka_2.13:${version} (${r.error?.message ?? `exit ${r.status}`}). ` +
        `Check that the version exists on Maven Central and that Maven Central is reachable (proxy settings in ~/.m2/settings.xml). mvn said:\n${out}`,
    )
  }
  renameSync(tmp, file)
  return readFileSync(file, 'utf8').trim()
}
