/**
 * Where PostgreSQL's server binaries are and as whom they run: Debian's package puts initdb and
 * postgres in /usr/lib/postgresql/<major>/bin (not on PATH), and PostgreSQL refuses to run as
 * root, so as root the harness runs them as the `postgres` user the package creates (setpriv:
 * it execs, so the pid we hold is the server's own).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

export const INSTALL_HINT = 'install Debian\'s package: `sudo apt-get install -y postgresql` (or set POSTGRES_BIN_DIR to a directory holding initdb and postgres)'

export type PostgresErrorCode = 'POSTGRES_MISSING' | 'POSTGRES_USER_MISSING' | 'POSTGRES_INIT_FAILED' | 'POSTGRES_START_FAILED'

/** The harness could not set up or start PostgreSQL; the message says what is missing. */
export class PostgresHarnessError extends Error {
  constructor(
    readonly code: PostgresErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'PostgresHarnessError'
  }
}

const hasServer = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))

/**
 * The directory holding initdb and postgres: `explicit` (POSTGRES_BIN_DIR) when given, else
 * /usr/lib/postgresql/15/bin (Debian 12's, what the tests run on), else the newest other major
 * under `root`. Throws POSTGRES_MISSING with the install hint when there is none.
 */
export function findPostgresBin(explicit = process.env.POSTGRES_BIN_DIR, root = '/usr/lib/postgresql'): string {
  if (explicit) {
    if (hasServer(explicit)) return explicit
    throw new PostgresHarnessError('POSTGRES_MISSING', `PostgreSQL's server binaries (initdb, postgres) are not in POSTGRES_BIN_DIR=${explicit}: ${INSTALL_HINT}`)
  }
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => /^\d+$/.test(d) && hasServer(join(root, d, 'bin')))
        .map(Number)
        .sort((a, b) => b - a)
    : []
  const major = majors.includes(15) ? 15 : majors[0]
  if (major === undefined) {
    throw new PostgresHarnessError('POSTGRES_MISSING', `PostgreSQL's server binaries (initdb, postgres) were not found in ${root}/<version>/bin: ${INSTALL_HINT}`)
  }
  return join(root, String(major), 'bin')
}

/** Who runs the server: nobody in particular when we are not root; the `postgres` user when we are. */
export interface RunAs {
  uid: number
  gid: number
  /** The command prefix that switches to that user (empty when no switch is needed). */
  prefix: string[]
}

export function runAs(user = 'postgres'): RunAs {
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  if (uid !== 0) return { uid, gid, prefix: [] }
  let ids: number[]
  try {
    ids = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()))
  } catch {
    throw new PostgresHarnessError(
      'POSTGRES_USER_MISSING',
      `PostgreSQL refuses to run as root, and there is no \`${user}\` user to run it as: ${INSTALL_HINT} (the package creates the user)`,
    )
  }
  const [u, g] = ids as [number, number]
  return { uid: u, gid: g, prefix: ['setpriv', `--reuid=${u}`, `--regid=${g}`, '--init-groups', '--'] }
}
