/**
 * `npm run demo` as a person runs it, but with stdout and stdin pipes: scripts/demo.ts as a real
 * process (mock broker, weather producer, the service), read line by line, stopped with SIGINT as
 * Ctrl-C stops it. With `--downstream`, the downstream is taken away and brought back through the
 * control the person has (a `d` on stdin): the breaker's lines, the status lines and the summary
 * must tell what happened, and the numbers must add up.
 *
 * With stdout not a terminal the demo prints its status as plain lines (every ten seconds, and in
 * --downstream mode at once when the downstream or the breaker changes): the same text as the
 * footer. Needs librdkafka (the mock broker) and `npm run build` (dist/), as the demo does.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { stripVTControlCharacters } from 'node:util'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const WAIT_MS = 90_000

/** The demo as a child process: its lines, waits on them, stdin, SIGINT. */
class Demo {
  /** stdout, the screen (stderr apart: its lines would interleave with a status block's). */
  readonly lines: string[] = []
  readonly stderr: string[] = []
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private readonly child: ChildProcess
  private waiters: Array<() => void> = []

  constructor(args: string[], env: Record<string, string> = {}) {
    const clean = { ...process.env }
    for (const k of ['HANDLER', 'WEBHOOK_URL', 'COMMIT_WINDOW', 'COMMIT_MODE', 'ORDERING', 'BREAKER_THRESHOLD', 'DEMO_RAW', 'KAFKA_GROUP_ID']) delete clean[k]
    this.child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], {
      cwd: ROOT,
      env: { ...clean, PORT: '0', NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.lines.push(l)
      for (const w of this.waiters) w()
    })
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l))
    this.exit = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })))
    void this.exit.then(() => {
      for (const w of this.waiters) w()
    })
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The first line from index `from` on that `re` matches (and its index); fails after WAIT_MS or when the demo exits. */
  async line(re: RegExp, from = 0, what = String(re)): Promise<{ m: RegExpExecArray; i: number }> {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i]!)
        if (m) return { m, i }
      }
      if (!this.running) assert.fail(`the demo exited before ${what}:\n${this.tail()}`)
      if (Date.now() > deadline) assert.fail(`no line ${what} within ${WAIT_MS} ms:\n${this.tail()}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
      this.waiters = []
    }
  }

  /** What a person types. */
  type(text: string): void {
    this.child.stdin!.write(text)
  }

  /** Ctrl-C; resolves with the exit. */
  async interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGINT')
    return this.exit
  }

  /** After a failed test: SIGINT (the demo stops its children), a second one forces the service out. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGINT')
    const t = setTimeout(() => this.child.kill('SIGINT'), 20_000)
    await this.exit
    clearTimeout(t)
  }

  tail(n = 40): string {
    return [...this.lines.slice(-n), ...this.stderr.map((l) => `(stderr) ${l}`)].join('\n')
  }

  /** The summary's row `name` (after the summary's title line). */
  row(name: string): string {
    const start = this.lines.findIndex((l) => l.startsWith('summary — '))
    assert.ok(start >= 0, `no summary:\n${this.tail()}`)
    const row = this.lines.slice(start).find((l) => l.startsWith(`  ${name.padEnd(13)}`))
    assert.ok(row, `no summary row "${name}":\n${this.tail()}`)
    return row.slice(15)
  }
}

const demos: Demo[] = []
after(async () => {
  await Promise.all(demos.map((d) => d.stop()))
})
function demo(args: string[], env?: Record<string, string>): Demo {
  const d = new Demo(args, env)
  demos.push(d)
  return d
}

describe('npm run demo', () => {
  it('--downstream: d takes the downstream away, the breaker opens and holds; d brings it back, it closes; Ctrl-C and the summary add up', async () => {
    // One partition, one handler call at a time, a commit window larger than the producer's 8
    // readings a tick (one produce request each, so a fetch holds whole ticks). The downstream is
    // taken away before the consumer has joined its group (the mock broker holds a new group's
    // first join ~3 s): the first window covers the first fetch, 8 messages at least, 5 fail
    // (BREAKER_THRESHOLD), the breaker opens with none running, and the others (3 at least) are held.
    const d = demo(['--downstream'], { DEMO_PARTITIONS: '1', COMMIT_WINDOW: '20', PRODUCER_INTERVAL_MS: '3000' })
    await d.line(/\[demo\] downstream http:\/\/127\.0\.0\.1:\d+\/hook: the handler examples\/webhook\/handler\.mjs POSTs each message there/)
    await d.line(/stdin is not a terminal: write d to it to take the downstream down, and again to bring it back/)
    const started = await d.line(/starting consumer: .*handler examples\/webhook\/handler\.mjs/)
    d.type('d')
    const from = started.i
    const down = await d.line(/\[demo\] downstream taken down: the handler's POSTs are refused \(ECONNREFUSED\); d brings it back/, from)
    const open = await d.line(/circuit breaker open after (\d+) failures: paused, (\d+) held, probe in [\d.]+ s$/, down.i)
    assert.equal(Number(open.m[1]), 5, 'BREAKER_THRESHOLD (5) failures open it')
    assert.ok(Number(open.m[2]) >= 3, `8 committed at least, 5 failed, 3 held at least:\n${d.tail()}`)
    const status = await d.line(/^── downstream down \(d on stdin: bring back\) {2}breaker open, (\d+) held, (\d+) waiting in Kafka$/, open.i)
    const held = Number(status.m[1])
    assert.ok(held >= 3, `the status line says how many are held:\n${d.tail()}`)
    // The other status lines of the block: counts (held = at risk while open), then the URLs.
    assert.match(d.lines[status.i - 1]!, new RegExp(`^── \\d\\d:\\d\\d:\\d\\d ready {2}produced \\d+ {2}consumed \\d+ {2}committed \\d+ {2}at risk ${held} {2}lost 5 {2}Ctrl-C stops$`))
    assert.equal((await d.line(/^── http:\/\/localhost:\d+\/healthz/, status.i)).i, status.i + 1, 'then the URLs')
    // ECONNREFUSED, or UND_ERR_SOCKET for a POST on its way when the connection was dropped.
    const failedLine = /^\d\d:\d\d:\d\d failed {4}weather\[0\]@(\d+) +POST \/hook failed: \w+ \(lost\)$/
    assert.equal(d.lines.filter((l) => failedLine.test(l)).length, 5, `one line per failed call, 5:\n${d.tail()}`)

    // While it is open more readings wait in Kafka; nothing more fails and nothing is delivered.
    let waiting = status
    while (Number(waiting.m[2]) <= Number(status.m[2])) {
      waiting = await d.line(/^── downstream down \(d on stdin: bring back\) {2}breaker open, (\d+) held, (\d+) waiting in Kafka$/, waiting.i + 1, 'more waiting in Kafka')
      assert.equal(Number(waiting.m[1]), held, 'as many held as when it opened')
    }
    d.type('d')
    const back = await d.line(/\[demo\] downstream back: the breaker closes when its next probe passes/, status.i)
    assert.deepEqual(
      d.lines.slice(open.i + 1, back.i).filter((l) => / (failed|delivered) /.test(l)),
      [],
      'while open: no handler call, no line per message',
    )
    const closed = await d.line(/circuit breaker closed after [\d.]+ s, (\d+) probes?: resumed, (\d+) held first$/, back.i)
    assert.ok(Number(closed.m[1]) >= 1, 'closed by a probe')
    assert.equal(Number(closed.m[2]), held, 'the held messages go first')
    await d.line(/^── downstream up \(d on stdin: take down\) {2}breaker closed$/, closed.i)
    // The held ones, then what waited in Kafka (a tick's 8 at least), delivered after the close.
    let delivered = 0
    for (let i = closed.i; delivered < held + 8; ) {
      const { i: j } = await d.line(/^\d\d:\d\d:\d\d delivered weather\[0\]@\d+ /, i, 'deliveries after the close')
      delivered++
      i = j + 1
    }

    const exit = await d.interrupt()
    assert.equal(exit.code, 0, `the demo exits with the service's code:\n${d.tail()}`)
    await d.line(/shutdown complete: exit 0/)
    const produced = Number(/^(\d+) /.exec(d.row('produced'))![1])
    const consumed = /^(\d+) {2}\(delivered to the downstream; last weather\[0\]@\d+\)$/.exec(d.row('consumed'))
    assert.ok(consumed, d.row('consumed'))
    const committed = Number(/^(\d+) /.exec(d.row('committed'))![1])
    assert.match(d.row('at risk/lost'), /^\d+ \/ 5 /, 'lost: the 5 failed calls, none while open')
    assert.equal(d.row('breaker'), 'opened 1 time, closed at the end; downstream taken down 1 time')
    assert.match(d.row('service'), /^exit code 0; last line "shutdown complete: exit 0"$/)
    // At most once: no message delivered twice; every committed one delivered or shown lost.
    const deliveredAt = d.lines.filter((l) => / delivered weather/.test(l)).map((l) => Number(/@(\d+)/.exec(l)![1]))
    assert.equal(new Set(deliveredAt).size, deliveredAt.length, 'no message delivered twice')
    assert.equal(deliveredAt.length, Number(consumed[1]), 'the summary counts the deliveries')
    const failedAt = d.lines.flatMap((l) => failedLine.exec(l)?.[1] ?? []).map(Number)
    assert.ok(committed <= produced)
    const seen = new Set([...deliveredAt, ...failedAt])
    const missing = Array.from({ length: committed }, (_, o) => o).filter((o) => !seen.has(o))
    assert.deepEqual(missing, [], 'every committed message was delivered or shown lost')
  })

  it('--downstream on a terminal: d is a key (raw mode), Ctrl-C a byte given back as SIGINT to the process group; the terminal restored', async () => {
    // script(1) (util-linux, in Debian's essential bsdutils) runs the demo on a pseudo-terminal and
    // copies our bytes to it. The shell around the demo is in its process group: the SIGINT the
    // demo gives back reaches it too, as a terminal's Ctrl-C would, and its trap prints the
    // terminal's modes once the demo has exited.
    const cmd = [
      `trap 'echo; echo "modes after: $(stty -a | grep -o -e "-*icanon" -e "-*echo " | tr -d "\\n")"; exit 0' INT`,
      `${JSON.stringify(process.execPath)} --import tsx scripts/demo.ts --downstream`,
      'echo "the shell got no SIGINT"',
    ].join('; ')
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', NO_COLOR: '1', DEMO_PARTITIONS: '1', HANDLER: '', WEBHOOK_URL: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let screen = ''
    let spawnError = ''
    child.on('error', (err) => (spawnError = `script(1) could not start: ${err.message} (apt-get install -y bsdutils)`))
    for (const s of [child.stdout, child.stderr]) s.on('data', (b: Buffer) => (screen += b.toString('utf8')))
    const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    const text = () => stripVTControlCharacters(screen).replace(/\r/g, '')
    const until = async (what: string, from = 0): Promise<number> => {
      const deadline = Date.now() + WAIT_MS
      for (;;) {
        const at = text().indexOf(what, from)
        if (at >= 0) return at + what.length
        if (spawnError) assert.fail(spawnError)
        if (child.exitCode !== null || Date.now() > deadline) assert.fail(`no "${what}" on the terminal:\n${text().slice(-3000)}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    try {
      await until('press d to take the downstream down, and again to bring it back')
      let at = await until(' delivered weather[0]@')
      child.stdin.write('d')
      at = await until('circuit breaker open after 5 failures', await until('[demo] downstream taken down', at))
      child.stdin.write('d')
      at = await until('circuit breaker closed after', await until('[demo] downstream back', at))
      // Deliveries again (the held ones first, then new ones): Ctrl-C.
      at = await until(' delivered weather[0]@', at)
      await until(' delivered weather[0]@', at)
      child.stdin.write('\x03')
      assert.equal(await exit, 0)
      const out = text()
      assert.match(out, /\[demo\] SIGINT: producer stopped first, then ONE SIGTERM to the service/)
      assert.match(out, /\n {2}breaker {6}opened 1 time, closed at the end; downstream taken down 1 time\n/)
      assert.match(out, /\n {2}service {6}exit code 0; last line "shutdown complete: exit 0"\n/)
      assert.match(out, /modes after: icanon ?echo /, 'the terminal is back in its modes (not raw)')
      assert.doesNotMatch(out, /the shell got no SIGINT/)
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await exit
      }
    }
  })

  it('plain: no downstream, no breaker line, a two-line status, the summary as before', async () => {
    const d = demo([])
    const first = await d.line(/^\d\d:\d\d:\d\d consumed weather\[\d\]@\d+ /)
    const status = await d.line(/^── \d\d:\d\d:\d\d ready {2}produced \d+ {2}consumed \d+ {2}committed \d+ {2}at risk \d+ {2}lost 0 {2}Ctrl-C stops$/, first.i)
    const urls = await d.line(/^── http:\/\/localhost:\d+\/healthz {2}http:\/\/localhost:\d+\/readyz {2}http:\/\/localhost:\d+\/metrics$/, status.i)
    assert.equal(urls.i, status.i + 1, `two status lines: counts, URLs:\n${d.tail()}`)
    const exit = await d.interrupt()
    assert.equal(exit.code, 0, d.tail())
    assert.match(d.row('consumed'), /^\d+ {2}\("consumed" lines; last weather\[\d\]@\d+\)$/)
    assert.match(d.row('service'), /^exit code 0; /)
    assert.deepEqual(
      d.lines.filter((l) => /downstream|breaker|delivered|press d|stdin/.test(l)),
      [],
      'nothing of --downstream in the plain demo',
    )
  })

  it('an unknown argument stops it with the usage, before anything starts', async () => {
    const d = demo(['--downstrem'])
    const exit = await d.exit
    assert.equal(exit.code, 2)
    assert.deepEqual(d.stderr, ['unknown argument: --downstrem', 'usage: npm run demo [-- --downstream]'])
    assert.deepEqual(d.lines, [])
  })
})
