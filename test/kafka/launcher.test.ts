/**
 * The Apache Kafka launcher itself: no JVM and no directory outlive the process that started
 * the cluster, however it ends (SIGKILL included); a missing Java or Maven is an error that says
 * what to install.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { eventually } from '../../harness/kafka-tools.ts'
import { ROOT } from '../../harness/service-process.ts'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Run the holder fixture; resolves with its first JSON line and the child. */
function holder(env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/kafka-holder.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  const first = new Promise<{ dir?: string; pids?: number[]; error?: string; code?: string }>((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)))
    })
    child.once('exit', (code) => reject(new Error(`holder exited ${code} without a line\n${err}`)))
  })
  return { child, first }
}

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: the launcher`, () => {
  for (const [how, nodes] of [['SIGKILL', '3'], ['SIGTERM', '1']] as const) {
    it(`the parent ended by ${how} (${nodes} node${nodes === '3' ? 's' : ''}): every JVM gone, the directory removed`, async () => {
      const { child, first } = holder({ KAFKA_HOLDER_NODES: nodes })
      const up = await first
      assert.ok(up.dir && up.pids, JSON.stringify(up))
      assert.equal(up.pids.length, Number(nodes))
      assert.ok(existsSync(up.dir) && up.pids.every(alive), 'the cluster runs')
      child.kill(how)
      assert.ok(
        await eventually(() => !up.pids!.some(alive) && !existsSync(up.dir!), 20_000),
        `left behind: JVMs ${up.pids.filter(alive).join(',') || 'none'}, directory ${existsSync(up.dir) ? up.dir : 'removed'}`,
      )
    })
  }

  it('no Java: JAVA_MISSING, and the message says how to install it', async () => {
    const { first } = holder({ PATH: '/nonexistent', JAVA_HOME: '' })
    const r = await first
    assert.equal(r.code, 'JAVA_MISSING', JSON.stringify(r))
    assert.match(r.error!, /Java 17/)
    assert.match(r.error!, /apt-get install -y openjdk-17/)
  })

  it('no Maven (and no cached classpath): MVN_MISSING, and the message says how to install it', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'amo-no-mvn-'))
    try {
      // A PATH with java but without mvn, and an empty classpath cache.
      const which = spawn('sh', ['-c', 'command -v java'], { stdio: ['ignore', 'pipe', 'ignore'] })
      const java = await new Promise<string>((resolve) => {
        let out = ''
        which.stdout.on('data', (c: Buffer) => (out += c.toString()))
        which.once('close', () => resolve(out.trim()))
      })
      assert.ok(java, 'java is on PATH (the tier needs it)')
      symlinkSync(java, join(bin, 'java'))
      const { first } = holder({ PATH: bin, JAVA_HOME: '', XDG_CACHE_HOME: join(bin, 'cache') })
      const r = await first
      assert.equal(r.code, 'MVN_MISSING', JSON.stringify(r))
      assert.match(r.error!, /apt-get install -y maven/)
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })
})
