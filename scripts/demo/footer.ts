/**
 * Screen: log lines scroll; on a terminal a two-line status footer (counts, readiness, the three
 * URLs) stays at the bottom, redrawn every two seconds; otherwise the status is a plain line every
 * ten seconds.
 */
import type { Tally } from './tally.ts'
import { bold, clock, colour, cyan, dim, green, live, out, red, yellow } from './style.ts'

export const STATUS_EVERY_MS = live ? 2000 : 10_000

let footer: string[] = []
/** Three columns spare: the terminal echoes `^C` after the footer, and it must not wrap. */
const width = () => Math.max(40, (out.columns ?? 100) - 3)
/** Cut to the terminal width, counting visible characters only (so the footer never wraps). */
function fit(s: string): string {
  const w = width()
  let visible = 0
  let result = ''
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const end = s.indexOf('m', i)
      result += s.slice(i, end + 1)
      i = end
      continue
    }
    if (visible === w) return result + (colour ? '\x1b[0m' : '')
    result += s[i]
    visible++
  }
  return result
}
function clearFooter(): void {
  if (!live || footer.length === 0) return
  out.write('\r\x1b[2K' + '\x1b[1A\x1b[2K'.repeat(footer.length - 1))
}
function drawFooter(): void {
  if (live && footer.length > 0) out.write(footer.map(fit).join('\n'))
}
export function print(line: string): void {
  clearFooter()
  out.write(line + '\n')
  drawFooter()
}
export function setFooter(lines: string[]): void {
  clearFooter()
  footer = lines
  if (live) drawFooter()
  else for (const l of lines) out.write(l + '\n')
}
export const say = (text: string) => print(`${dim(clock())} ${cyan('[demo]')} ${text}`)

/**
 * The footer's two lines: counts read from /metrics and the broker, readiness, the URLs; with
 * `--downstream` a third: the downstream's state, the breaker's (held = at risk while it is open),
 * the messages waiting in Kafka (produced, not yet committed) and the key.
 */
export function status(tally: Tally): string[] {
  const lines = counts(tally)
  const d = tally.downstream
  if (!d) return lines
  const m = tally.metrics
  const state = d.up ? green('up') : red('down')
  const breaker =
    m.breaker === 'closed' || m.breaker === ''
      ? `breaker ${m.breaker || '…'}`
      : `${red(`breaker ${m.breaker === 'half_open' ? 'half-open' : 'open'}, ${m.atRisk} held`)}, ${Math.max(0, tally.produced - m.committed)} waiting in Kafka`
  const key = dim(`(${d.keys === 'key' ? 'd' : 'd on stdin'}: ${d.up ? 'take down' : 'bring back'})`)
  lines.splice(1, 0, `${dim('──')} downstream ${state} ${key}  ${breaker}`)
  return lines
}

function counts(tally: Tally): string[] {
  const m = tally.metrics
  const readyText = tally.ready === 'ready' ? green('ready') : yellow(tally.ready)
  const url = tally.port ? `http://localhost:${tally.port}` : 'http://localhost:…'
  const full = `${url}/healthz  ${url}/readyz  ${url}/metrics`
  return [
    `${dim('──')} ${clock()} ${readyText}  produced ${bold(String(tally.produced))}  consumed ${bold(String(m.processedOk + m.processedFailed))}` +
      `  committed ${bold(String(m.committed))}  at risk ${m.atRisk}  lost ${m.lost}  ${dim('Ctrl-C stops')}`,
    `${dim('──')} ${full.length + 3 <= width() ? full : `${url}/{healthz,readyz,metrics}`}`,
  ]
}
