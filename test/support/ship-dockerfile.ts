/**
 * A small Dockerfile reader for the container tests: enough of the syntax to check what the
 * image does, without a Docker engine. Handles comments, parser directives, `\` line
 * continuations, exec (JSON) and shell forms, and splits the file into build stages.
 */

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, CMD, ... */
  keyword: string
  /** Everything after the keyword, continuations joined with a space. */
  args: string
  /** 1-based line where the instruction starts. */
  line: number
}

export interface Stage {
  /** The FROM image reference (ARG defaults substituted). */
  image: string
  /** `AS name`, if any. */
  name: string | undefined
  instructions: Instruction[]
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = []
  const lines = text.split(/\r?\n/)
  let buf = ''
  let start = 0
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? ''
    const trimmed = raw.trim()
    // Comments (and parser directives) are dropped, also inside a continued instruction.
    if (trimmed.startsWith('#')) continue
    if (buf === '' && trimmed === '') continue
    if (buf === '') start = i + 1
    if (trimmed.endsWith('\\')) {
      buf += trimmed.slice(0, -1).trim() + ' '
      continue
    }
    buf += trimmed
    const m = /^(\S+)\s*(.*)$/s.exec(buf.trim())
    if (m) out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line: start })
    buf = ''
  }
  return out
}

/** Splits instructions into stages; ARGs before the first FROM provide defaults for FROM. */
export function stages(instructions: Instruction[]): Stage[] {
  const globalArgs = new Map<string, string>()
  const result: Stage[] = []
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'))
      const image = (parts[0] ?? '').replace(/\$\{?(\w+)\}?/g, (_, n: string) => globalArgs.get(n) ?? '')
      const asIdx = parts.findIndex((p) => p.toUpperCase() === 'AS')
      result.push({ image, name: asIdx >= 0 ? parts[asIdx + 1] : undefined, instructions: [] })
      continue
    }
    const current = result.at(-1)
    if (current) {
      current.instructions.push(ins)
    } else if (ins.keyword === 'ARG') {
      const [name, value] = ins.args.split('=', 2)
      if (name) globalArgs.set(name.trim(), (value ?? '').trim())
    }
  }
  return result
}

/** The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  const s = args.trim()
  if (!s.startsWith('[')) return undefined
  try {
    const parsed: unknown = JSON.parse(s)
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[]
  } catch {
    return undefined
  }
  return undefined
}

/** Collects ENV settings of a stage (both `ENV K=V ...` and legacy `ENV K V`). */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>()
  for (const ins of stage.instructions) {
    if (ins.keyword !== 'ENV') continue
    if (/^[\w.-]+=/.test(ins.args)) {
      for (const m of ins.args.matchAll(/([\w.-]+)=("([^"]*)"|'([^']*)'|(\S*))/g)) {
        env.set(m[1] ?? '', m[3] ?? m[4] ?? m[5] ?? '')
      }
    } else {
      const [k, ...rest] = ins.args.split(/\s+/)
      if (k) env.set(k, rest.join(' '))
    }
  }
  return env
}

/**
 * Whether a .dockerignore excludes a path, by its last matching pattern (`!` re-includes).
 * Supports `*`, `**` and `?`; a pattern matching a directory excludes what is below it.
 */
export function dockerignoreExcludes(dockerignore: string, path: string): boolean {
  let excluded = false
  for (const rawLine of dockerignore.split(/\r?\n/)) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) continue
    const negate = line.startsWith('!')
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '')
    const re = new RegExp(
      '^' +
        pattern
          .split('**')
          .map((seg) =>
            seg
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]'),
          )
          .join('.*') +
        '(/.*)?$',
    )
    if (re.test(path)) excluded = !negate
  }
  return excluded
}

/** LABEL key=value pairs of a stage (double-quoted, single-quoted or bare values; last wins). */
export function labelsOf(stage: Stage): Map<string, string> {
  const labels = new Map<string, string>()
  for (const ins of stage.instructions) {
    if (ins.keyword !== 'LABEL') continue
    for (const m of ins.args.matchAll(/([\w.-]+)=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g)) {
      labels.set(m[1] ?? '', (m[3] ?? m[4] ?? m[5] ?? '').replace(/\\(.)/g, '$1'))
    }
  }
  return labels
}

/** ARG declarations of a stage: name -> default ('' when none). */
export function argsOf(stage: Stage): Map<string, string> {
  const args = new Map<string, string>()
  for (const ins of stage.instructions) {
    if (ins.keyword !== 'ARG') continue
    const m = /^([\w.-]+)(?:=("([^"]*)"|'([^']*)'|(\S*)))?$/.exec(ins.args.trim())
    if (m) args.set(m[1] ?? '', m[3] ?? m[4] ?? m[5] ?? '')
  }
  return args
}
