/**
 * The container image, checked from the Dockerfile text (no Docker engine in CI): multi-stage,
 * production-only runtime, numeric non-root user, signals reaching Node through an init, a
 * HEALTHCHECK that needs no curl, and OCI labels that agree with package.json and the chart.
 * Plus the .dockerignore that keeps host builds out.
 */
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parse as parseYaml } from 'yaml'
import { nodeFlagsOf, SERVICE_NODE_FLAGS } from '../harness/service-process.ts'
import {
  argsOf,
  dockerignoreExcludes,
  envOf,
  labelsOf,
  execForm,
  parseDockerfile,
  stages,
  type Instruction,
  type Stage,
} from './support/ship-dockerfile.ts'

const root = new URL('../', import.meta.url)
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8')
const dockerignore = readFileSync(new URL('.dockerignore', root), 'utf8')
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as Record<string, unknown>
const all = parseDockerfile(dockerfile)
const allStages = stages(all)
const runtime = allStages.at(-1) as Stage

const last = (stage: Stage, keyword: string): Instruction | undefined =>
  stage.instructions.filter((i) => i.keyword === keyword).at(-1)
const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args)

describe('Dockerfile', () => {
  it('is multi-stage: a build stage that compiles, a runtime stage that copies the result', () => {
    assert.ok(allStages.length >= 2, `expected at least 2 FROM stages, found ${allStages.length}`)
    const build = allStages[0] as Stage
    assert.ok(build.name, 'the build stage is named (FROM ... AS build)')
    assert.ok(
      runs(build).some((r) => /\bnpm ci\b/.test(r)),
      'the build stage installs with npm ci',
    )
    assert.ok(
      runs(build).some((r) => /\bnpm run build\b|\btsc\b/.test(r)),
      'the build stage compiles TypeScript (npm run build / tsc)',
    )
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args)
    assert.ok(
      copies.some((c) => c.includes(`--from=${build.name}`) && /\bdist\b/.test(c)),
      `the runtime stage copies dist from the build stage; COPY lines: ${JSON.stringify(copies)}`,
    )
  })

  it('runs on the current Node LTS (24) in every stage, with a pinned major tag', () => {
    for (const stage of allStages) {
      assert.match(stage.image, /^(docker\.io\/(library\/)?)?node:24[.-]/, `stage ${stage.name ?? '?'} uses ${stage.image}`)
      assert.doesNotMatch(stage.image, /:latest$|:lts/, 'a floating tag is not pinned')
    }
  })

  it('installs production dependencies only in the runtime stage, with NODE_ENV=production', () => {
    const rs = runs(runtime)
    assert.ok(
      rs.some((r) => /\bnpm ci\b/.test(r) && /--omit=dev\b/.test(r)),
      `runtime stage must run "npm ci --omit=dev"; RUN lines: ${JSON.stringify(rs)}`,
    )
    assert.ok(!rs.some((r) => /\bnpm (install|i)\b/.test(r)), 'no npm install (not lockfile-exact) in runtime')
    assert.equal(envOf(runtime).get('NODE_ENV'), 'production')
  })

  it('runs as a numeric non-root USER', () => {
    const user = last(runtime, 'USER')
    assert.ok(user, 'runtime stage sets USER')
    const m = /^(\d+)(?::(\d+))?$/.exec(user.args)
    assert.ok(m, `USER must be numeric (uid or uid:gid) so Kubernetes can verify runAsNonRoot, got "${user.args}"`)
    assert.notEqual(Number(m[1]), 0, 'USER must not be root (0)')
    if (m[2] !== undefined) assert.notEqual(Number(m[2]), 0, 'group must not be root (0)')
    // Nothing after USER switches back to root.
    const afterUser = runtime.instructions.slice(runtime.instructions.indexOf(user) + 1)
    assert.ok(!afterUser.some((i) => i.keyword === 'RUN'), 'no RUN after USER (it would run as the app user anyway)')
  })

  it('starts through tini with exec-form ENTRYPOINT and a CMD running dist/server.js', () => {
    const entry = last(runtime, 'ENTRYPOINT')
    assert.ok(entry, 'runtime stage has an ENTRYPOINT')
    const ep = execForm(entry.args)
    assert.ok(ep, `ENTRYPOINT must be exec form (JSON array), got ${entry.args}`)
    assert.match(ep[0] ?? '', /(^|\/)(tini|dumb-init|docker-init)$/, `ENTRYPOINT starts an init, got ${ep[0]}`)
    if (/tini$/.test(ep[0] ?? '')) {
      assert.equal(ep.at(-1), '--', 'tini gets "--" so the CMD args are not parsed as its own')
      // The init must exist in the image: installed by a RUN of the runtime stage.
      assert.ok(
        runs(runtime).some((r) => /\btini\b/.test(r)) ||
          runtime.instructions.some((i) => i.keyword === 'COPY' && i.args.includes('tini')),
        'tini is installed in the runtime stage',
      )
    }
    const cmd = last(runtime, 'CMD')
    assert.ok(cmd, 'runtime stage has a CMD')
    const argv = execForm(cmd.args)
    assert.ok(argv, `CMD must be exec form (JSON array), got ${cmd.args}`)
    assert.equal(argv[0], 'node', 'CMD runs node directly (no npm, no shell: they do not forward SIGTERM)')
    assert.match(argv.at(-1) ?? '', /(^|\/)dist\/server\.js$/)
  })

  it('starts Node with the flags of package.json\'s "start" script, the ones the tests and the bench use', () => {
    const argv = execForm(last(runtime, 'CMD')!.args)!
    const start = (pkg.scripts as { start: string }).start
    assert.deepEqual(nodeFlagsOf(start), [...SERVICE_NODE_FLAGS], 'the harness reads its flags from "start"')
    assert.deepEqual(argv.slice(1, -1), [...SERVICE_NODE_FLAGS], `CMD ${JSON.stringify(argv)} against "start": ${start}`)
    assert.ok(SERVICE_NODE_FLAGS.some((f) => /^--max-semi-space-size=\d+$/.test(f)), 'the young generation is capped (its size otherwise follows the host\'s memory)')
    assert.ok(SERVICE_NODE_FLAGS.some((f) => /^--heap-growing-percent=\d+$/.test(f)), 'the old generation\'s growth between full collections is bounded')
    const env = runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args)
    assert.ok(!env.some((e) => /\bNODE_OPTIONS\b/.test(e)), 'no NODE_OPTIONS in the image: the flags are in CMD, where a user\'s NODE_OPTIONS adds to them')
  })

  it('has a HEALTHCHECK on the Node health script, without curl or wget', () => {
    const hc = last(runtime, 'HEALTHCHECK')
    assert.ok(hc, 'runtime stage has a HEALTHCHECK')
    assert.doesNotMatch(hc.args, /\b(curl|wget)\b/)
    assert.match(hc.args, /\bCMD\b/)
    const argv = execForm(hc.args.slice(hc.args.indexOf('CMD') + 3))
    assert.ok(argv, 'HEALTHCHECK CMD is exec form')
    assert.equal(argv[0], 'node')
    assert.match(argv[1] ?? '', /(^|\/)dist\/healthcheck\.js$/)
    // The script exists as TypeScript and is compiled by the build (tsconfig.build.json: src/).
    assert.ok(readFileSync(new URL('src/healthcheck.ts', root), 'utf8').includes('/healthz'))
  })

  it('exposes the HTTP port 8080 (PORT default)', () => {
    const exposed = runtime.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/))
    assert.ok(
      exposed.some((p) => p.replace(/\/tcp$/, '') === '8080'),
      `EXPOSE 8080 expected, got ${exposed.join(',')}`,
    )
  })
})

describe('Dockerfile: OCI labels', () => {
  const labels = labelsOf(runtime)
  const oci = (key: string): string | undefined => labels.get(`org.opencontainers.image.${key}`)

  it('title, description, version and licenses are those of package.json', () => {
    assert.equal(oci('title'), pkg.name)
    assert.equal(oci('description'), pkg.description)
    assert.equal(oci('version'), pkg.version)
    assert.equal(oci('licenses'), pkg.license)
  })

  it('version is the chart appVersion (the tag the chart deploys by default)', () => {
    const chart = parseYaml(readFileSync(new URL('helm/amo-consumer/Chart.yaml', root), 'utf8')) as { appVersion: string }
    assert.equal(oci('version'), chart.appVersion)
  })

  it('base.name is the image the runtime stage is built FROM', () => {
    assert.equal(oci('base.name'), `docker.io/library/${runtime.image}`)
  })

  it('revision and created come from build arguments, not from the file', () => {
    const args = argsOf(runtime)
    for (const [label, arg] of [
      ['revision', 'REVISION'],
      ['created', 'CREATED'],
    ] as const) {
      assert.equal(oci(label), `\${${arg}}`, `${label} is set from ARG ${arg}`)
      assert.equal(args.get(arg), '', `ARG ${arg} has no invented default`)
    }
  })

  it('names no source the project does not have', () => {
    assert.equal(pkg.repository, undefined, 'package.json now names a repository: add org.opencontainers.image.source')
    assert.equal(oci('source'), undefined)
  })

  it('the build arguments are declared after the last RUN (a new revision keeps the layer cache)', () => {
    const ins = runtime.instructions
    const lastRun = ins.map((i) => i.keyword).lastIndexOf('RUN')
    for (const i of ins.filter((x) => x.keyword === 'ARG' || x.keyword === 'LABEL')) {
      assert.ok(ins.indexOf(i) > lastRun, `${i.keyword} ${i.args.slice(0, 30)} (line ${i.line}) comes before a RUN`)
    }
  })
})

describe('.dockerignore', () => {
  it('keeps every file the Dockerfile COPYs from the build context', () => {
    const sources = all
      .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1))
    assert.ok(sources.length >= 4, `COPY sources: ${sources.join(', ')}`)
    for (const source of sources) {
      assert.ok(!dockerignoreExcludes(dockerignore, source), `${source} is COPYed but .dockerignore excludes it`)
    }
  })

  for (const path of [
    'node_modules',
    'node_modules/kafkajs/package.json',
    'dist',
    'dist/server.js',
    '.git',
    '.env',
    'src/.env.local',
    'src/node_modules/x/index.js',
    'test/helm.test.ts',
    'harness/brokers/mock-cluster.ts',
    'helm/amo-consumer/values.yaml',
    'docs/design.md',
    'Dockerfile',
  ]) {
    it(`excludes ${path}`, () => {
      assert.ok(dockerignoreExcludes(dockerignore, path), `${path} would be sent to the build context`)
    })
  }
  for (const path of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'src/server.ts',
    'src/healthcheck.ts',
    'src/config/schema.ts',
  ]) {
    it(`keeps ${path}, which the build needs`, () => {
      assert.ok(!dockerignoreExcludes(dockerignore, path), `${path} is excluded but the build stage copies it`)
    })
  }
})
