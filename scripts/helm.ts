/**
 * `npm run helm -- <args>`: the Helm the chart checks use (harness/helm.ts: Helm 4 from the npm
 * registry, cached on first use), run from the repository root.
 */
import { spawnSync } from 'node:child_process'
import { helmPath } from '../harness/helm.ts'

const r = spawnSync(helmPath(), process.argv.slice(2), { stdio: 'inherit' })
if (r.error) throw r.error
process.exit(r.status ?? 1)
