/**
 * A --cpu-prof profile of the service, summarised: main-thread CPU per message during the
 * consumption phase, split by who spends it (kafkajs, the service's own files, JSON.parse and
 * other builtins, GC, idle).
 */
import { readFileSync } from 'node:fs'
import { fmt } from './report.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

/** Who a sample's self time belongs to. */
function owner(url: string, fn: string): string {
  if (!url) {
    if (fn === '(garbage collector)' || fn === '(idle)' || fn === '(program)') return fn
    if (fn === 'parse') return 'JSON.parse'
    return `(native: ${fn || 'anonymous'})`
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]!
  if (url.startsWith('node:')) return url.split('/')[0]!
  const dist = /\/dist\/(.+)$/.exec(url)
  if (dist) return `service: ${dist[1]}`
  const scripts = /\/scripts\/(.+)$/.exec(url)
  if (scripts) return `bench: ${scripts[1]}`
  return url
}

export function summariseProfile(file: string, messages: number): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inConsumer = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = byId.get(cur)!.callFrame.functionName
      if (fn === 'consumeBatchSync' || fn === 'consumeInOrder' || fn === 'handleBatch') return true
    }
    return false
  }
  // The consumption phase only: from the first to the last sample inside a batch loop (start-up,
  // the group join and shutdown are left out; idle time in between stays in).
  const first = prof.samples.findIndex(inConsumer)
  let last = prof.samples.length - 1
  while (last > first && !inConsumer(prof.samples[last]!)) last--
  const self = new Map<number, number>()
  for (let i = Math.max(first, 0); i <= last; i++) {
    const id = prof.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const byOwner = new Map<string, number>()
  const byFn = new Map<string, number>()
  for (const [id, us] of self) {
    const n = byId.get(id)!
    const o = owner(n.callFrame.url, n.callFrame.functionName)
    byOwner.set(o, (byOwner.get(o) ?? 0) + us)
    const f = `${n.callFrame.functionName || '(anonymous)'} — ${o}:${n.callFrame.lineNumber + 1}`
    byFn.set(f, (byFn.get(f) ?? 0) + us)
  }
  const idle = byOwner.get('(idle)') ?? 0
  const busy = total - idle
  // Coarse groups: the service's own path, kafkajs, JSON.parse, and the rest.
  const group = (o: string) =>
    o.startsWith('service: ') ? 'the service (dist/)' : o === 'kafkajs' ? 'kafkajs' : o === 'JSON.parse' ? 'JSON.parse' : o === '(idle)' ? '(idle)' : o === '(garbage collector)' ? 'GC' : 'other (node internals, natives, prom-client, pino, fastify…)'
  const groups = new Map<string, number>()
  for (const [o, us] of byOwner) groups.set(group(o), (groups.get(group(o)) ?? 0) + us)
  const rows = (m: Map<string, number>, k: number, perMessage: boolean) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => `| ${name} | ${fmt(us / 1000)} | ${fmt((100 * us) / total, 1)}% |${perMessage ? ` ${fmt((us / messages) * 1000)} |` : ''}`)
      .join('\n')
  return [
    `Consumption phase: ${fmt(total / 1000)} ms sampled for ${messages} messages, ${fmt(busy / 1000)} ms of it on the CPU: ${fmt(busy / messages, 2)} µs of main-thread CPU per message.`,
    '',
    '| who | ms | share | ns per message |',
    '|---|---|---|---|',
    rows(groups, 10, true),
    '',
    '| self time by package / file | ms | share |',
    '|---|---|---|',
    rows(byOwner, 15, false),
    '',
    '| self time by function | ms | share |',
    '|---|---|---|',
    rows(byFn, 20, false),
  ].join('\n')
}
