/**
 * The documentation, checked as a reader in a fresh clone would meet it:
 *
 * - every relative link in README.md, CONTRIBUTING.md, docs/*.md and the chart's README reaches
 *   an existing file, and every #anchor an existing heading of its target (GitHub's slugs);
 * - no project file points outside the repository (to the team brief that is not part of it);
 * - every `npm run <script>` (and `npm test` / `npm start`) the docs name exists in package.json;
 * - docs/design.md documents every configuration variable the service reads.
 *
 * The Markdown reading here is deliberately small (ATX headings, inline and reference links,
 * HTML id/name anchors, fenced code skipped); the first tests pin it down on known input, so a
 * checker that silently accepts everything would fail.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { CONFIG_VARIABLES } from '../src/config/schema.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/** The documents a reader follows from the README. */
function docFiles(): string[] {
  const docs = existsSync(join(ROOT, 'docs'))
    ? readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`)
    : []
  return ['README.md', 'CONTRIBUTING.md', ...docs.sort(), 'helm/amo-consumer/README.md']
}

// ---------------------------------------------------------------------------------------------
// A small Markdown reader

/** Lines outside fenced code blocks (``` or ~~~), with their 1-based numbers. */
function proseLines(text: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = []
  let fence: string | undefined
  text.split('\n').forEach((line, i) => {
    const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line)
    if (m) {
      if (fence === undefined) fence = m[1]![0]!.repeat(m[1]!.length)
      else if (m[1]!.startsWith(fence)) fence = undefined
      return
    }
    if (fence === undefined) out.push({ line, n: i + 1 })
  })
  return out
}

/** GitHub's heading slug (github-slugger): lower case, punctuation dropped, each space a hyphen. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*~]/g, '') // code and emphasis markers (underscores stay: GitHub keeps them)
    .trim()
    .toLowerCase()
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-')
}

/** Every anchor a Markdown file offers: heading slugs (with GitHub's -1, -2 for repeats) and HTML ids. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const { line } of proseLines(text)) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (h) {
      const base = slug(h[1]!)
      const count = seen.get(base) ?? 0
      seen.set(base, count + 1)
      out.add(count === 0 ? base : `${base}-${count}`)
    }
    for (const a of line.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) out.add(a[1]!.toLowerCase())
  }
  return out
}

interface Link {
  target: string
  n: number
}

/** Inline links and images `[text](target "title")` and reference definitions `[ref]: target`. */
function links(text: string): Link[] {
  const out: Link[] = []
  for (const { line, n } of proseLines(text)) {
    const prose = line.replace(/`[^`]*`/g, '') // code spans are not links
    for (const m of prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, n })
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose)
    if (def) out.push({ target: def[1]!, n })
  }
  return out
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')

/** What is wrong with each relative link of `file` (repository-relative path); empty when nothing. */
function brokenLinks(file: string, text = readFileSync(join(ROOT, file), 'utf8')): string[] {
  const root = ROOT
  const problems: string[] = []
  for (const { target, n } of links(text)) {
    if (isExternal(target)) continue
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined]
    const path = decodeURIComponent(pathPart.split('?')[0]!)
    const abs = path === '' ? join(root, file) : resolve(dirname(join(root, file)), path)
    const where = `${file}:${n}: (${target})`
    if (!abs.startsWith(root) && abs !== root.replace(/\/$/, '')) {
      problems.push(`${where} points outside the repository`)
      continue
    }
    if (!existsSync(abs)) {
      problems.push(`${where} no such file ${relative(root, abs)}`)
      continue
    }
    if (anchor === undefined || anchor === '') continue
    if (!abs.endsWith('.md') || statSync(abs).isDirectory()) continue // GitHub line anchors (#L10) and the like
    const offered = abs === join(root, file) ? anchors(text) : anchors(readFileSync(abs, 'utf8'))
    if (!offered.has(anchor.toLowerCase())) {
      problems.push(`${where} no heading #${anchor} in ${relative(root, abs)}`)
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------

describe('the Markdown checker itself', () => {
  it('makes the slugs GitHub makes', () => {
    assert.equal(slug('Delivery semantics'), 'delivery-semantics')
    assert.equal(slug('`COMMIT_MODE` and the window (sync)'), 'commit_mode-and-the-window-sync')
    assert.equal(slug('Node.js'), 'nodejs')
    assert.equal(slug('Shutdown (SIGTERM or SIGINT)'), 'shutdown-sigterm-or-sigint')
    assert.equal(slug('Kubernetes: the Helm chart'), 'kubernetes-the-helm-chart')
    assert.equal(slug('Running everything with [Docker Compose](x.md) — real Kafka'), 'running-everything-with-docker-compose--real-kafka')
  })

  it('numbers repeated headings, reads HTML anchors, ignores headings in code', () => {
    const a = anchors('# T\n## Setup\n```sh\n# not a heading\n```\n## Setup\n<a id="custom"></a>\n')
    assert.deepEqual([...a].sort(), ['custom', 'setup', 'setup-1', 't'])
  })

  it('finds inline, image and reference links, not those in code', () => {
    const found = links('see [a](docs/a.md#x) and ![i](img.svg "t")\n`[no](no.md)`\n```\n[no](no2.md)\n```\n[ref]: other.md\n')
    assert.deepEqual(
      found.map((l) => l.target),
      ['docs/a.md#x', 'img.svg', 'other.md'],
    )
  })

  it('reports a missing file and a missing anchor', () => {
    // A document at the repository root, checked against the real tree (no file written).
    const text =
      '[gone](no-such-file.md) [bad](README.md#no-such-heading) [ok](README.md#quick-start) [up](../x.md) [ext](https://example.com) [self](#nowhere)'
    const problems = brokenLinks('SYNTHETIC.md', text)
    assert.equal(problems.length, 4, problems.join('\n'))
    assert.match(problems[0]!, /no such file no-such-file\.md/)
    assert.match(problems[1]!, /no heading #no-such-heading in README\.md/)
    assert.match(problems[2]!, /points outside the repository/)
    assert.match(problems[3]!, /SYNTHETIC\.md:1: \(#nowhere\)/)
  })
})

describe('every relative link resolves', () => {
  for (const file of docFiles()) {
    it(`${file}`, () => {
      assert.ok(existsSync(join(ROOT, file)), `${file} is missing`)
      const problems = brokenLinks(file)
      assert.deepEqual(problems, [], `dead links:\n  ${problems.join('\n  ')}`)
    })
  }
})

describe('the repository is self-contained', () => {
  it('no project file refers to the team brief outside the repository', () => {
    // Built from parts so that this file does not mention them itself.
    const outside = ['..' + '/shared', 'DESIGN' + '.md']
    let files: string[]
    try {
      files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
        .split('\0')
        .filter(Boolean)
    } catch (err) {
      assert.fail(`git is needed to list the project's files (apt-get install -y git): ${(err as Error).message}`)
    }
    const offenders: string[] = []
    for (const f of files) {
      if (f.startsWith('node_modules/')) continue
      const abs = join(ROOT, f)
      if (!existsSync(abs) || statSync(abs).isDirectory()) continue
      const buf = readFileSync(abs)
      if (buf.includes(0)) continue // binary
      const text = buf.toString('utf8')
      text.split('\n').forEach((line, i) => {
        for (const o of outside) if (line.includes(o)) offenders.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`)
      })
    }
    assert.ok(files.length > 50, `only ${files.length} files listed`)
    assert.deepEqual(offenders, [], `references outside the repository:\n  ${offenders.join('\n  ')}`)
  })
})

describe('commands named in the docs exist', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  for (const file of docFiles().filter((f) => existsSync(join(ROOT, f)))) {
    it(`${file}: every npm script it names is in package.json`, () => {
      const text = readFileSync(join(ROOT, file), 'utf8')
      const named = new Set<string>()
      for (const m of text.matchAll(/\bnpm run(?:-script)? ([A-Za-z0-9:_.-]+)/g)) named.add(m[1]!)
      for (const m of text.matchAll(/\bnpm (test|start)\b/g)) named.add(m[1]!)
      const missing = [...named].filter((s) => !(s in pkg.scripts))
      assert.deepEqual(missing, [], `${file} names npm scripts that package.json lacks: ${missing.join(', ')}`)
    })
  }
})

describe('a reader finds every page', () => {
  it('README.md is short enough for one sitting and links to every page of docs/ and to CONTRIBUTING.md', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const lines = readme.split('\n').length
    assert.ok(lines <= 300, `README.md has ${lines} lines; move detail into docs/ (at most 300)`)
    const targets = new Set(links(readme).map((l) => l.target.split('#')[0]))
    const pages = docFiles().filter((f) => f.startsWith('docs/'))
    const missing = [...pages, 'CONTRIBUTING.md'].filter((p) => !targets.has(p))
    assert.deepEqual(missing, [], `README.md does not link to: ${missing.join(', ')}`)
  })

  it('the docs index (docs/README.md) lists every page of docs/', () => {
    const index = readFileSync(join(ROOT, 'docs/README.md'), 'utf8')
    const targets = new Set(links(index).map((l) => l.target.split('#')[0]))
    const missing = docFiles()
      .filter((f) => f.startsWith('docs/') && f !== 'docs/README.md')
      .filter((f) => !targets.has(f.slice('docs/'.length)))
    assert.deepEqual(missing, [], `docs/README.md does not list: ${missing.join(', ')}`)
  })
})

describe('docs/design.md', () => {
  it('documents every configuration variable the service reads', () => {
    const design = readFileSync(join(ROOT, 'docs/design.md'), 'utf8')
    const missing = CONFIG_VARIABLES.filter((v) => !design.includes(`\`${v}\``))
    assert.deepEqual(missing, [], `variables missing from docs/design.md#configuration: ${missing.join(', ')}`)
  })
})
