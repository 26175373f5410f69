/**
 * Java for the launcher: finding the JDK's binaries, checking its version once, the flags of the
 * broker and tool JVMs, and running a short-lived command (a tool JVM, keytool) to completion.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { KafkaLauncherError } from './errors.ts'

/** Flags of every broker JVM: small heap, few GC threads, quick start. */
export const BROKER_JVM = ['-Xms64m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true']
/** Flags of short-lived tool JVMs (StorageTool, keytool's cousins, kafka-*.sh classes). */
export const TOOL_JVM = ['-Xms32m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto']
export const SLF4J = [
  '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
  '-Dorg.slf4j.simpleLogger.showDateTime=true',
  '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
  // The full config dumps (hundreds of lines per node and client) say nothing a test needs.
  '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn',
  '-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaConfig=warn',
  '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.utils.AppInfoParser=warn',
]

export function javaBin(name: 'java' | 'keytool'): string {
  const home = process.env.JAVA_HOME
  if (home && existsSync(join(home, 'bin', name))) return join(home, 'bin', name)
  return name
}

let javaChecked: string | undefined
export function checkJava(): void {
  if (javaChecked) return
  const r = spawnSync(javaBin('java'), ['-version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    throw new KafkaLauncherError(
      'JAVA_MISSING',
      `Apache Kafka needs Java 17 or newer, and \`${javaBin('java')}\` could not be run (${r.error?.message ?? `exit ${r.status}`}). ` +
        'Install a JDK, e.g. `sudo apt-get install -y openjdk-17-jdk-headless`, or set JAVA_HOME to one.',
    )
  }
  const m = /version "(\d+)/.exec(r.stderr)
  const major = m ? Number(m[1]) : 0
  if (major < 17) {
    throw new KafkaLauncherError(
      'JAVA_MISSING',
      `Apache Kafka needs Java 17 or newer; \`${javaBin('java')} -version\` says: ${r.stderr.split('\n')[0]}. ` +
        'Install one (e.g. `sudo apt-get install -y openjdk-17-jdk-headless`) and put it first on PATH or set JAVA_HOME.',
    )
  }
  javaChecked = r.stderr.split('\n')[0]
}

export interface ToolResult {
  code: number
  stdout: string
  stderr: string
}

export function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` })
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr })
    })
  })
}
