// @ts-check
// The HTTP downstream of the tests, run as a child process by http-downstream.ts (which documents
// the API). Plain JavaScript so that it starts with `node` alone, fast, and can be SIGKILLed and
// started again on the same port.
//
//   node http-server.mjs <dir> <port>      (port 0: the OS picks one)
//
// It prints `listening <port>` on stdout once it accepts connections, or `listen-error <code>`
// and exits 1. For every request, once its body is read and before it is answered, it appends
// one JSON line to <dir>/requests.jsonl with a synchronous write: the line is in the kernel when
// the answer leaves, so it survives a SIGKILL of this process. How it answers comes from
// <dir>/rules.json (written by the parent, re-read when it changes): the first rule that matches
// the request decides; no rule, 200. SIGTERM and SIGINT exit at once.
import { openSync, readFileSync, statSync, writeSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'

const [dir, portArg] = process.argv.slice(2)
if (!dir || portArg === undefined) {
  process.stderr.write('usage: node http-server.mjs <dir> <port>\n')
  process.exit(2)
}
const requestsFd = openSync(join(dir, 'requests.jsonl'), 'a')
const rulesFile = join(dir, 'rules.json')

/**
 * @typedef {object} Rule
 * @property {string} [method] matches this method only (GET, HEAD, POST, ...)
 * @property {string} [path] matches this path only (without the query string)
 * @property {string} [bodyIncludes] matches a body containing this text
 * @property {number} [until] matches only before this time (milliseconds since the epoch)
 * @property {number} [status] the answer's status (default 200)
 * @property {number} [delayMs] wait this long before answering
 * @property {boolean} [hang] never answer (the client gives up, or the process dies)
 */

/** @type {{ key: string, rules: Rule[] }} */
let cached = { key: '', rules: [] }
/** The rules in force: rules.json, read again whenever the parent replaced it. */
function rules() {
  let key = ''
  try {
    const st = statSync(rulesFile)
    key = `${st.ino}:${st.mtimeMs}:${st.size}`
  } catch {
    return []
  }
  if (key !== cached.key) {
    /** @type {Rule[]} */
    const parsed = JSON.parse(readFileSync(rulesFile, 'utf8'))
    cached = { key, rules: parsed }
  }
  return cached.rules
}

/**
 * @param {Rule} r
 * @param {{ method: string, path: string, body: string, now: number }} req
 */
function matches(r, req) {
  if (r.method !== undefined && r.method.toUpperCase() !== req.method) return false
  if (r.path !== undefined && r.path !== req.path) return false
  if (r.bodyIncludes !== undefined && !req.body.includes(r.bodyIncludes)) return false
  if (r.until !== undefined && req.now >= r.until) return false
  return true
}

const server = http.createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const now = Date.now()
    const body = Buffer.concat(chunks).toString('utf8')
    const method = req.method ?? 'GET'
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    let rule
    try {
      rule = rules().find((r) => matches(r, { method, path, body, now }))
    } catch (err) {
      // A rules file the parent is writing is replaced atomically, so this is a real mistake.
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`bad rules.json: ${String(err)}`)
      return
    }
    const status = rule?.hang ? null : (rule?.status ?? 200)
    const key = req.headers['idempotency-key']
    const line = {
      t: now,
      pid: process.pid,
      method,
      path,
      key: typeof key === 'string' ? key : null,
      status,
      headers: req.headers,
      body: body.length <= 65_536 ? body : `${body.slice(0, 65_536)}...`,
    }
    writeSync(requestsFd, `${JSON.stringify(line)}\n`)
    if (status === null) return // hang: keep the socket open, answer nothing
    const answer = () => {
      if (res.destroyed) return
      const text = status < 300 ? '{"ok":true}' : `{"error":"status ${status} by rule"}`
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(method === 'HEAD' ? undefined : text)
    }
    if (rule?.delayMs) setTimeout(answer, rule.delayMs)
    else answer()
  })
})

server.on('error', (err) => {
  process.stdout.write(`listen-error ${/** @type {NodeJS.ErrnoException} */ (err).code ?? err.message}\n`)
  process.exit(1)
})
server.listen(Number(portArg), '127.0.0.1', () => {
  const addr = server.address()
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : portArg}\n`)
})
for (const sig of /** @type {const} */ (['SIGTERM', 'SIGINT'])) process.on(sig, () => process.exit(0))
