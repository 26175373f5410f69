/**
 * Container health probe for the Docker HEALTHCHECK (`node dist/healthcheck.js`): the runtime
 * image has no curl or wget, and Node's own fetch is enough.
 *
 * GET http://127.0.0.1:${PORT}/healthz with a short timeout; exit 0 on HTTP 200, 1 otherwise
 * (connection refused, timeout, 503 once the consumer has crashed or stalled, ...).
 *
 * It reads PORT and HOST as the server does, so a container that moves the port (PORT=9000) or
 * binds one address (HOST=10.1.2.3) is still probed where the server listens. No dependencies:
 * it must run even when the service's own modules cannot load.
 */

const DEFAULT_PORT = 8080
const TIMEOUT_MS = 3000
/** Addresses that mean "every interface": probe them through loopback. */
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]'])

function probeUrl(env: NodeJS.ProcessEnv): string {
  const rawPort = (env.PORT ?? '').trim()
  const port = rawPort === '' ? DEFAULT_PORT : Number(rawPort)
  const host = (env.HOST ?? '').trim()
  let target = '127.0.0.1'
  if (!WILDCARD_HOSTS.has(host)) {
    // A bare IPv6 literal needs brackets in a URL.
    target = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  }
  return `http://${target}:${port}/healthz`
}

async function main(): Promise<number> {
  const url = probeUrl(process.env)
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    // The status is the answer; the body is not needed.
    await res.body?.cancel()
    if (res.status === 200) return 0
    console.error(`healthcheck: ${url} answered ${res.status}`)
    return 1
  } catch (err) {
    // undici reports "fetch failed" and puts the useful part (ECONNREFUSED, ...) in `cause`.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    const reason = err instanceof Error ? `${err.message}${cause}` : String(err)
    console.error(`healthcheck: ${url} failed: ${reason}`)
    return 1
  }
}

// Exit explicitly: an idle keep-alive socket must not hold the probe open past Docker's timeout.
process.exit(await main())
