// Watchdog of one Apache Kafka test cluster. The launcher (cluster.ts) spawns it with a pipe on its
// stdin and writes "+pid N", "-pid N", "+dir PATH", "-dir PATH" lines. When that pipe closes —
// the launcher stopped the cluster, or its process died, even by SIGKILL — every registered JVM
// still alive is killed (SIGKILL) and every registered directory removed. It ignores SIGINT,
// SIGTERM and SIGHUP so that a signal sent to the whole process group cannot stop it before the
// JVMs.
import { rmSync } from 'node:fs'

const pids = new Set()
const dirs = new Set()
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => {})

const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

let buf = ''
process.stdin.on('data', (chunk) => {
  buf += chunk.toString('utf8')
  let nl
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl)
    buf = buf.slice(nl + 1)
    const m = /^([+-])(pid|dir) (.+)$/.exec(line)
    if (!m) continue
    const set = m[2] === 'pid' ? pids : dirs
    const value = m[2] === 'pid' ? Number(m[3]) : m[3]
    if (m[1] === '+') set.add(value)
    else set.delete(value)
  }
})

let done = false
function cleanup() {
  if (done) return
  done = true
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000
  const finish = () => {
    if ([...pids].some(alive) && Date.now() < deadline) return void setTimeout(finish, 50)
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  }
  finish()
}
process.stdin.on('end', cleanup)
process.stdin.on('close', cleanup)
process.stdin.on('error', cleanup)
