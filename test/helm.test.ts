/**
 * The Helm chart (helm/amo-consumer), checked without a cluster: `helm lint --strict` and
 * `helm template` over the default values and every ci/*-values.yaml, then assertions on the
 * rendered manifests that tie the chart to the service: probe paths and port, every env var is
 * one src/config/schema.ts knows, the grace period stays above SHUTDOWN_TIMEOUT_MS, the
 * restricted security context, the password only through a Secret, KEDA / ServiceMonitor /
 * PDB variants, the config checksum, and values.schema.json refusing bad values. Then the
 * opt-ins: the PrometheusRule and the dashboard ConfigMap rendered from the files compose uses
 * (and kept by `helm package`), the NetworkPolicy, the `helm test` pod (its script run for real
 * against a local HTTP server), Chart.yaml metadata, and the README's generated parameters table.
 */
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parse as parseYaml } from 'yaml'
import {
  COMMIT_MODES,
  CONFIG_VARIABLES,
  LOG_LEVELS,
  SASL_MECHANISMS,
  VALUE_FORMATS,
  configSchema,
} from '../src/config/schema.ts'
import { TRACES_EXPORTERS, TRACES_SAMPLERS } from '../src/tracing/options.ts'
import { defaultAsEnv, envValueProblem } from './support/ship-config.ts'
import {
  chartDir,
  helm,
  helmLint,
  helmPackage,
  repoRoot,
  scratchDir,
  helmTemplate,
  one,
  ofKind,
  render,
  valuesFile,
  type Container,
  type Deployment,
  type K8sObject,
  type RenderOptions,
  type Service,
} from './support/ship-helm.ts'

const ciFiles = readdirSync(join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort()
const variants: { name: string; opts: RenderOptions }[] = [
  { name: 'default values', opts: {} },
  ...ciFiles.map((f) => ({ name: `ci/${f}`, opts: { files: [`ci/${f}`] } })),
]

// ---------------------------------------------------------------------------------------------
// Reading a render.

interface Rendered {
  docs: K8sObject[]
  deployment: Deployment
  container: Container
  /** The container's environment as the service sees it: ConfigMap (envFrom) + env. */
  env: Map<string, string>
  /** Names set in `env` (not envFrom), with their EnvVar. */
  envVars: Container['env']
  configMapData: Record<string, string>
}

function read(docs: K8sObject[]): Rendered {
  const deployment = one<Deployment>(docs, 'Deployment')
  const pod = deployment.spec.template.spec
  assert.equal(pod.containers.length, 1, 'one container')
  const container = pod.containers[0] as Container
  const env = new Map<string, string>()
  let configMapData: Record<string, string> = {}
  for (const src of container.envFrom ?? []) {
    if (!src.configMapRef) continue
    const cm = ofKind(docs, 'ConfigMap').find((c) => c.metadata.name === src.configMapRef?.name)
    assert.ok(cm, `envFrom references ConfigMap ${src.configMapRef.name}, which the chart does not render`)
    configMapData = cm.data ?? {}
    for (const [k, v] of Object.entries(configMapData)) env.set(k, v)
  }
  for (const e of container.env ?? []) env.set(e.name, e.value ?? '<from secret/configmap ref>')
  return { docs, deployment, container, env, envVars: container.env ?? [], configMapData }
}

const renderRead = (opts: RenderOptions = {}): Rendered => read(render(opts))

const shutdownTimeoutMs = (r: Rendered): number =>
  Number(r.env.get('SHUTDOWN_TIMEOUT_MS') ?? configSchema.properties.SHUTDOWN_TIMEOUT_MS.default)

const graceSeconds = (r: Rendered): number => {
  const g = r.deployment.spec.template.spec.terminationGracePeriodSeconds
  assert.equal(typeof g, 'number', 'terminationGracePeriodSeconds is set (the Kubernetes default is 30 s)')
  return g as number
}

/** Fails unless `helm template` and `helm lint --strict` both refuse the values. */
function assertRefused(opts: RenderOptions, expected: RegExp): void {
  const t = helmTemplate(opts)
  assert.notEqual(t.status, 0, `helm template accepted ${JSON.stringify(opts)}`)
  assert.match(t.stderr, expected)
  // helm lint renders in "lint mode", where a template's `fail` is reported (Helm 4:
  // `level=INFO msg="funcMap fail" message=…`) without failing the lint; a schema violation fails it.
  const l = helmLint(opts)
  const lintOut = (l.stdout + l.stderr).replace(/\\"/g, '"')
  assert.ok(
    l.status !== 0 || /msg="funcMap fail"/.test(lintOut),
    `helm lint --strict accepted ${JSON.stringify(opts)}:\n${lintOut}`,
  )
  assert.match(lintOut, expected)
}

// ---------------------------------------------------------------------------------------------

describe('helm chart: lint', () => {
  it('has the ci/ variants CI is expected to cover', () => {
    for (const f of [
      'servicemonitor-values.yaml',
      'keda-values.yaml',
      'existing-secret-values.yaml',
      'monitoring-values.yaml',
      'networkpolicy-values.yaml',
    ]) {
      assert.ok(ciFiles.includes(f), `helm/amo-consumer/ci/${f} is missing`)
    }
  })

  for (const v of variants) {
    it(`helm lint --strict passes with ${v.name}`, () => {
      const r = helmLint(v.opts)
      assert.equal(r.status, 0, `helm lint --strict failed:\n${r.stdout}${r.stderr}`)
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/)
      assert.doesNotMatch(r.stdout + r.stderr, /\[INFO\] Fail: /, 'a template check failed (lint mode reports it as INFO)')
    })
  }
})

describe('helm chart: rendered manifests agree with the service', () => {
  for (const v of variants) {
    describe(v.name, () => {
      const r = renderRead(v.opts)
      const pod = r.deployment.spec.template.spec

      it('probes: startup and liveness GET /healthz, readiness GET /readyz, on the named port http', () => {
        const { startupProbe, livenessProbe, readinessProbe } = r.container
        assert.equal(startupProbe?.httpGet?.path, '/healthz')
        assert.equal(livenessProbe?.httpGet?.path, '/healthz')
        assert.equal(readinessProbe?.httpGet?.path, '/readyz')
        for (const p of [startupProbe, livenessProbe, readinessProbe]) assert.equal(p?.httpGet?.port, 'http')
      })

      it('the port named http is the PORT the service listens on, and the Service targets it', () => {
        const http = (r.container.ports ?? []).find((p) => p.name === 'http')
        assert.ok(http, 'the container declares a port named http')
        const port = Number(r.env.get('PORT') ?? defaultAsEnv('PORT'))
        assert.equal(http.containerPort, port, 'containerPort "http" equals PORT')
        const svc = one<Service>(r.docs, 'Service')
        const sp = svc.spec.ports.find((p) => p.name === 'http')
        assert.ok(sp, 'the Service has a port named http (for the ServiceMonitor)')
        assert.equal(sp.targetPort, 'http')
        for (const [k, val] of Object.entries(svc.spec.selector)) {
          assert.equal(r.deployment.spec.template.metadata.labels?.[k], val, `Service selector ${k} matches the pods`)
        }
      })

      it('every environment variable is one src/config/schema.ts knows, with a valid value', () => {
        assert.ok(r.env.size > 0)
        for (const name of r.env.keys()) {
          assert.ok(CONFIG_VARIABLES.includes(name), `the container gets ${name}, unknown to src/config/schema.ts`)
        }
        for (const [name, value] of Object.entries(r.configMapData)) {
          const problem = envValueProblem(name, value)
          assert.equal(problem, undefined, problem)
        }
        for (const required of configSchema.required) assert.ok(r.env.has(required), `${required} is set`)
      })

      it('runs the image\'s CMD, so the service gets the image\'s Node flags (package.json "start"); no NODE_OPTIONS of its own', () => {
        const c = r.container as Container & { command?: string[]; args?: string[] }
        assert.equal(c.command, undefined, 'no command: the image\'s ENTRYPOINT and CMD run')
        assert.equal(c.args, undefined, 'no args: CMD keeps its Node flags')
        assert.ok(!r.env.has('NODE_OPTIONS'), 'NODE_OPTIONS is left to the user (extraEnv), where it adds to the flags')
      })

      it('terminationGracePeriodSeconds is above SHUTDOWN_TIMEOUT_MS', () => {
        const grace = graceSeconds(r)
        const timeout = shutdownTimeoutMs(r)
        assert.ok(grace * 1000 > timeout, `grace ${grace} s is not above SHUTDOWN_TIMEOUT_MS ${timeout} ms`)
        const preStop = r.container.lifecycle?.preStop
        assert.equal(preStop, undefined, 'no preStop hook (readiness turns 503 at once on SIGTERM)')
      })

      it('restricted security context, read-only root with an emptyDir at /tmp', () => {
        const psc = pod.securityContext
        assert.equal(psc?.runAsNonRoot, true)
        assert.equal(typeof psc?.runAsUser, 'number')
        assert.notEqual(psc?.runAsUser, 0)
        assert.equal(typeof psc?.fsGroup, 'number')
        assert.equal(psc?.seccompProfile?.type, 'RuntimeDefault')
        const csc = r.container.securityContext
        assert.equal(csc?.allowPrivilegeEscalation, false)
        assert.equal(csc?.readOnlyRootFilesystem, true)
        assert.deepEqual(csc?.capabilities?.drop, ['ALL'])
        assert.equal(csc?.capabilities?.add, undefined)
        assert.notEqual(csc?.privileged, true)
        const mount = (r.container.volumeMounts ?? []).find((m) => m.mountPath === '/tmp')
        assert.ok(mount, '/tmp is mounted')
        const vol = (pod.volumes ?? []).find((v) => v.name === mount.name)
        assert.ok(vol && vol.emptyDir != null, '/tmp is an emptyDir')
      })

      it('the SASL password never appears as a plain value', () => {
        assert.ok(!('KAFKA_SASL_PASSWORD' in r.configMapData), 'the password is not in the ConfigMap')
        const pw = (r.envVars ?? []).find((e) => e.name === 'KAFKA_SASL_PASSWORD')
        if (r.env.get('KAFKA_SASL_MECHANISM')) {
          assert.ok(pw, 'with SASL on, the container gets KAFKA_SASL_PASSWORD')
          assert.equal(pw.value, undefined, 'no plain value')
          const ref = pw.valueFrom?.secretKeyRef
          assert.ok(ref, 'KAFKA_SASL_PASSWORD comes from a secretKeyRef')
          const secret = ofKind(r.docs, 'Secret').find((s) => s.metadata.name === ref.name)
          if (secret) assert.ok(secret.data?.[ref.key], `the chart's Secret has the key ${ref.key}`)
          assert.ok(r.env.get('KAFKA_SASL_USERNAME'), 'a SASL user is set')
        } else {
          assert.equal(pw, undefined, 'no password without SASL')
        }
      })

      it('PodDisruptionBudget with maxUnavailable 1 selecting the pods', () => {
        const pdb = one(r.docs, 'PodDisruptionBudget') as K8sObject & {
          spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } }
        }
        assert.equal(pdb.apiVersion, 'policy/v1')
        assert.equal(pdb.spec.maxUnavailable, 1)
        for (const [k, val] of Object.entries(pdb.spec.selector.matchLabels)) {
          assert.equal(r.deployment.spec.template.metadata.labels?.[k], val)
        }
      })

      it('app.kubernetes.io labels on every resource and on the pods; config checksum on the pods', () => {
        for (const d of [...r.docs, { kind: 'pod template', metadata: r.deployment.spec.template.metadata }]) {
          // The `helm test` pod leaves app.kubernetes.io/name out so that no selector takes it
          // for a consumer (checked in "helm chart: helm test hook").
          const isTestPod = d.metadata.labels?.['app.kubernetes.io/component'] === 'test'
          for (const l of ['name', 'instance', 'version', 'managed-by', 'component']) {
            if (isTestPod && l === 'name') continue
            assert.ok(d.metadata.labels?.[`app.kubernetes.io/${l}`], `${d.kind} ${d.metadata.name ?? ''} lacks app.kubernetes.io/${l}`)
          }
        }
        assert.match(r.deployment.spec.template.metadata.annotations?.['checksum/config'] ?? '', /^[0-9a-f]{64}$/)
      })

      it('pods do not mount a service account token (the consumer never calls the API)', () => {
        const spec = pod as typeof pod & { automountServiceAccountToken?: boolean }
        assert.equal(spec.automountServiceAccountToken, false)
      })
    })
  }
})

describe('helm chart: variants', () => {
  it('default values: fixed replicas, no ScaledObject, ServiceMonitor, PrometheusRule, dashboard, NetworkPolicy or Secret', () => {
    const r = renderRead()
    assert.equal(r.deployment.spec.replicas, 1)
    for (const kind of ['ScaledObject', 'ServiceMonitor', 'PrometheusRule', 'NetworkPolicy', 'Secret']) {
      assert.equal(ofKind(r.docs, kind).length, 0, `${kind} is opt-in`)
    }
    assert.deepEqual(
      ofKind(r.docs, 'ConfigMap').map((c) => c.metadata.name),
      [r.deployment.metadata.name],
      'one ConfigMap (the environment); the dashboard ConfigMap is opt-in',
    )
    assert.equal(r.deployment.spec.template.metadata.annotations?.['prometheus.io/scrape'], undefined, 'opt-in')
  })

  it('KEDA: a ScaledObject with a kafka trigger on the consumer group, and no replicas in the Deployment', () => {
    const r = renderRead({ files: ['ci/keda-values.yaml'] })
    assert.equal(r.deployment.spec.replicas, undefined, 'replicas must be left out when KEDA scales')
    const so = one(r.docs, 'ScaledObject') as K8sObject & {
      spec: {
        scaleTargetRef: { name: string; kind?: string }
        minReplicaCount: number
        maxReplicaCount: number
        triggers: { type: string; metadata: Record<string, string> }[]
      }
    }
    assert.equal(so.apiVersion, 'keda.sh/v1alpha1')
    assert.equal(so.spec.scaleTargetRef.name, r.deployment.metadata.name)
    assert.ok(so.spec.minReplicaCount <= so.spec.maxReplicaCount)
    const t = so.spec.triggers.find((x) => x.type === 'kafka')
    assert.ok(t, 'a kafka trigger')
    assert.equal(t.metadata.bootstrapServers, r.env.get('KAFKA_BROKERS'))
    assert.equal(t.metadata.consumerGroup, r.env.get('KAFKA_GROUP_ID'))
    assert.equal(t.metadata.topic, r.env.get('KAFKA_TOPICS'))
    assert.match(t.metadata.lagThreshold ?? '', /^\d+$/, 'lagThreshold is a string of digits')
    assert.equal(t.metadata.offsetResetPolicy, r.env.get('KAFKA_FROM_BEGINNING') === 'false' ? 'latest' : 'earliest')
  })

  it('KEDA with SASL: the scaler authenticates with the same Secret as the pods', () => {
    const r = renderRead({ files: ['ci/existing-secret-values.yaml'] })
    const so = one(r.docs, 'ScaledObject') as K8sObject & {
      spec: { triggers: { metadata: Record<string, string>; authenticationRef?: { name: string } }[] }
    }
    const trigger = so.spec.triggers[0]
    assert.equal(trigger?.metadata.sasl, 'scram_sha512', "KEDA's spelling of scram-sha-512")
    assert.equal(trigger?.metadata.tls, 'enable')
    const ta = one(r.docs, 'TriggerAuthentication') as K8sObject & {
      spec: { secretTargetRef: { parameter: string; name: string; key: string }[] }
    }
    assert.equal(trigger?.authenticationRef?.name, ta.metadata.name)
    const pwRef = (r.envVars ?? []).find((e) => e.name === 'KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef
    const taRef = ta.spec.secretTargetRef.find((s) => s.parameter === 'password')
    assert.deepEqual({ name: taRef?.name, key: taRef?.key }, { name: pwRef?.name, key: pwRef?.key })
  })

  it('existing Secret: the password is read from it and the chart creates no Secret', () => {
    const r = renderRead({ files: ['ci/existing-secret-values.yaml'] })
    assert.equal(ofKind(r.docs, 'Secret').length, 0)
    const ref = (r.envVars ?? []).find((e) => e.name === 'KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef
    assert.deepEqual(ref, { name: 'weather-consumer', key: 'password' })
    assert.equal(r.env.get('KAFKA_SASL_MECHANISM'), 'scram-sha-512')
    assert.equal(r.env.get('KAFKA_SSL'), 'true')
  })

  it('chart-created Secret: holds the password, and its checksum is on the pods', () => {
    const r = renderRead({ set: ['config.sasl.mechanism=plain', 'config.sasl.username=u', 'config.sasl.password=s3cret'] })
    const secret = one(r.docs, 'Secret')
    assert.equal(Buffer.from(secret.data?.password ?? '', 'base64').toString(), 's3cret')
    const ref = (r.envVars ?? []).find((e) => e.name === 'KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef
    assert.deepEqual(ref, { name: secret.metadata.name, key: 'password' })
    assert.match(r.deployment.spec.template.metadata.annotations?.['checksum/secret'] ?? '', /^[0-9a-f]{64}$/)
    const text = JSON.stringify(r.docs.filter((d) => d.kind !== 'Secret'))
    assert.ok(!text.includes('s3cret'), 'the password appears nowhere but in the Secret')
  })

  it('ServiceMonitor: scrapes the Service port http at /metrics', () => {
    const r = renderRead({ files: ['ci/servicemonitor-values.yaml'] })
    const sm = one(r.docs, 'ServiceMonitor') as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path?: string }[] }
    }
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1')
    assert.equal(sm.metadata.labels?.release, 'kube-prometheus-stack', 'extra labels for the Prometheus selector')
    const svc = one<Service>(r.docs, 'Service')
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels?.[k], v)
    const ep = sm.spec.endpoints[0]
    assert.ok(svc.spec.ports.some((p) => p.name === ep?.port), `endpoint port ${ep?.port} is a Service port name`)
    assert.equal(ep?.path, '/metrics')
  })

  it('prometheus.io annotations are opt-in and point at PORT', () => {
    const r = renderRead({ set: ['metrics.prometheusAnnotations=true', 'config.port=9100'] })
    const a = r.deployment.spec.template.metadata.annotations ?? {}
    assert.equal(a['prometheus.io/scrape'], 'true')
    assert.equal(a['prometheus.io/port'], '9100')
    assert.equal(a['prometheus.io/path'], '/metrics')
    assert.equal(r.env.get('PORT'), '9100')
    assert.equal(r.container.ports?.find((p) => p.name === 'http')?.containerPort, 9100)
  })
})

describe('helm chart: grace period follows SHUTDOWN_TIMEOUT_MS', () => {
  for (const ms of [1, 10000, 45000, 45500, 300000]) {
    it(`config.shutdownTimeoutMs=${ms}`, () => {
      const r = renderRead({ set: [`config.shutdownTimeoutMs=${ms}`] })
      assert.equal(r.env.get('SHUTDOWN_TIMEOUT_MS'), String(ms))
      const grace = graceSeconds(r)
      assert.ok(grace * 1000 > ms, `grace ${grace} s is not above ${ms} ms`)
      assert.equal(grace, Math.ceil(ms / 1000) + 10, 'ceil(ms / 1000) + the default 10 s margin')
    })
  }

  it('the margin is a value', () => {
    const r = renderRead({ set: ['terminationGracePeriodMarginSeconds=3'] })
    assert.equal(graceSeconds(r), 13)
  })

  it('an explicit terminationGracePeriodSeconds above the timeout is used as is', () => {
    assert.equal(graceSeconds(renderRead({ set: ['terminationGracePeriodSeconds=90'] })), 90)
  })

  it('an explicit terminationGracePeriodSeconds not above the timeout is refused', () => {
    for (const set of [
      ['terminationGracePeriodSeconds=10'],
      ['terminationGracePeriodSeconds=5'],
      ['terminationGracePeriodSeconds=30', 'config.shutdownTimeoutMs=30000'],
    ]) {
      const t = helmTemplate({ set })
      assert.notEqual(t.status, 0, `accepted ${set.join(' ')}`)
      assert.match(t.stderr, /terminationGracePeriodSeconds .* must be above config\.shutdownTimeoutMs/)
    }
  })
})

describe('helm chart: configuration', () => {
  /** Every variable of the schema, the values key that sets it, and a non-default value. */
  const mapping: Record<string, { path: string[]; value: unknown; env: string }> = {
    KAFKA_BROKERS: { path: ['config', 'brokers'], value: ['b1:9092', 'b2:9092'], env: 'b1:9092,b2:9092' },
    KAFKA_TOPICS: { path: ['config', 'topics'], value: 'weather,alerts', env: 'weather,alerts' },
    KAFKA_GROUP_ID: { path: ['config', 'groupId'], value: 'g1', env: 'g1' },
    KAFKA_CLIENT_ID: { path: ['config', 'clientId'], value: 'c1', env: 'c1' },
    KAFKA_FROM_BEGINNING: { path: ['config', 'fromBeginning'], value: false, env: 'false' },
    KAFKA_SESSION_TIMEOUT_MS: { path: ['config', 'sessionTimeoutMs'], value: 45000, env: '45000' },
    KAFKA_HEARTBEAT_INTERVAL_MS: { path: ['config', 'heartbeatIntervalMs'], value: 1500, env: '1500' },
    KAFKA_SSL: { path: ['config', 'ssl'], value: true, env: 'true' },
    KAFKA_SSL_CA_FILE: { path: ['config', 'sslCaFile'], value: '/etc/ssl/kafka/ca.pem', env: '/etc/ssl/kafka/ca.pem' },
    KAFKA_SASL_MECHANISM: { path: ['config', 'sasl', 'mechanism'], value: 'scram-sha-256', env: 'scram-sha-256' },
    KAFKA_SASL_USERNAME: { path: ['config', 'sasl', 'username'], value: 'user1', env: 'user1' },
    KAFKA_SASL_PASSWORD: { path: ['config', 'sasl', 'password'], value: 'pw1', env: 'pw1' },
    COMMIT_MODE: { path: ['config', 'commitMode'], value: 'async', env: 'async' },
    COMMIT_WINDOW: { path: ['config', 'commitWindow'], value: 1000000, env: '1000000' },
    ORDERING: { path: ['config', 'ordering'], value: 'partition', env: 'partition' },
    MAX_IN_FLIGHT: { path: ['config', 'maxInFlight'], value: 250, env: '250' },
    MAX_CALLS_PER_SECOND: { path: ['config', 'maxCallsPerSecond'], value: 40, env: '40' },
    BREAKER_THRESHOLD: { path: ['config', 'breaker', 'threshold'], value: 0, env: '0' },
    BREAKER_BACKOFF_MS: { path: ['config', 'breaker', 'backoffMs'], value: 500, env: '500' },
    BREAKER_BACKOFF_MAX_MS: { path: ['config', 'breaker', 'backoffMaxMs'], value: 60000, env: '60000' },
    AUTO_COMMIT_INTERVAL_MS: { path: ['config', 'autoCommitIntervalMs'], value: 2500, env: '2500' },
    PARTITION_CONCURRENCY: { path: ['config', 'partitionConcurrency'], value: 4, env: '4' },
    HANDLER: { path: ['config', 'handler'], value: '/app/handlers/enrich.js', env: '/app/handlers/enrich.js' },
    HANDLER_TIMEOUT_MS: { path: ['config', 'handlerTimeoutMs'], value: 0, env: '0' },
    VALUE_FORMAT: { path: ['config', 'valueFormat'], value: 'text', env: 'text' },
    DEAD_LETTER_TOPIC: { path: ['config', 'deadLetterTopic'], value: 'weather.dlq', env: 'weather.dlq' },
    DEAD_LETTER_MAX_WAIT_MS: { path: ['config', 'deadLetterMaxWaitMs'], value: 60000, env: '60000' },
    DEAD_LETTER_MAX_QUEUED_BYTES: { path: ['config', 'deadLetterMaxQueuedBytes'], value: 16777216, env: '16777216' },
    SHUTDOWN_TIMEOUT_MS: { path: ['config', 'shutdownTimeoutMs'], value: 20000, env: '20000' },
    STALL_TIMEOUT_MS: { path: ['config', 'stallTimeoutMs'], value: 120000, env: '120000' },
    PORT: { path: ['config', 'port'], value: 9000, env: '9000' },
    HOST: { path: ['config', 'host'], value: '::', env: '::' },
    LOG_LEVEL: { path: ['config', 'logLevel'], value: 'debug', env: 'debug' },
    OTEL_TRACES_EXPORTER: { path: ['config', 'tracing', 'exporter'], value: 'otlp', env: 'otlp' },
    OTEL_EXPORTER_OTLP_ENDPOINT: { path: ['config', 'tracing', 'otlpEndpoint'], value: 'http://otel-collector:4318', env: 'http://otel-collector:4318' },
    OTEL_EXPORTER_ZIPKIN_ENDPOINT: { path: ['config', 'tracing', 'zipkinEndpoint'], value: 'http://zipkin:9411/api/v2/spans', env: 'http://zipkin:9411/api/v2/spans' },
    OTEL_SERVICE_NAME: { path: ['config', 'tracing', 'serviceName'], value: 'payments-consumer', env: 'payments-consumer' },
    OTEL_TRACES_SAMPLER: { path: ['config', 'tracing', 'sampler'], value: 'parentbased_traceidratio', env: 'parentbased_traceidratio' },
    OTEL_TRACES_SAMPLER_ARG: { path: ['config', 'tracing', 'samplerArg'], value: 0.01, env: '0.01' },
    OTEL_BSP_SCHEDULE_DELAY: { path: ['config', 'tracing', 'batch', 'scheduleDelay'], value: 1000, env: '1000' },
    OTEL_BSP_EXPORT_TIMEOUT: { path: ['config', 'tracing', 'batch', 'exportTimeout'], value: 10000, env: '10000' },
    OTEL_BSP_MAX_QUEUE_SIZE: { path: ['config', 'tracing', 'batch', 'maxQueueSize'], value: 4096, env: '4096' },
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: { path: ['config', 'tracing', 'batch', 'maxExportBatchSize'], value: 1024, env: '1024' },
  }

  it('the mapping below covers every variable of src/config/schema.ts', () => {
    assert.deepEqual(Object.keys(mapping).sort(), [...CONFIG_VARIABLES].sort())
  })

  it('every configuration variable is settable from values and reaches the container', () => {
    const values: Record<string, unknown> = {}
    for (const { path, value } of Object.values(mapping)) {
      let node = values
      for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>
      node[path.at(-1) as string] = value
    }
    const r = renderRead({ files: [valuesFile(values)] })
    const secret = one(r.docs, 'Secret')
    for (const [name, { env }] of Object.entries(mapping)) {
      if (name === 'KAFKA_SASL_PASSWORD') {
        const ref = (r.envVars ?? []).find((e) => e.name === name)?.valueFrom?.secretKeyRef
        assert.equal(ref?.name, secret.metadata.name)
        assert.equal(Buffer.from(secret.data?.[ref?.key ?? ''] ?? '', 'base64').toString(), env)
      } else {
        assert.equal(r.configMapData[name], env, `${name} in the ConfigMap`)
      }
    }
  })

  it('the chart defaults are the service defaults (values.yaml does not drift from schema.ts)', () => {
    const r = renderRead()
    for (const [name, value] of Object.entries(r.configMapData)) {
      const def = defaultAsEnv(name)
      if (def !== undefined) assert.equal(value, def, `${name}: chart default ${value}, service default ${def}`)
    }
    assert.ok(!('KAFKA_CLIENT_ID' in r.configMapData), 'an empty clientId is left to the service (pod name)')
    assert.ok(
      !('PARTITION_CONCURRENCY' in r.configMapData),
      'partitionConcurrency is left to the service, whose default is all assigned partitions',
    )
  })

  it('extraEnv is appended to the container env', () => {
    const r = renderRead({ files: [valuesFile({ extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=192' }] })] })
    assert.equal((r.envVars ?? []).find((e) => e.name === 'NODE_OPTIONS')?.value, '--max-old-space-size=192')
  })

  it('a config change changes the checksum/config annotation (pods roll); other changes do not', () => {
    const sum = (opts: RenderOptions): string | undefined =>
      renderRead(opts).deployment.spec.template.metadata.annotations?.['checksum/config']
    const base = sum({})
    assert.ok(base)
    assert.notEqual(sum({ set: ['config.commitMode=async'] }), base)
    assert.notEqual(sum({ set: ['config.commitWindow=10'] }), base)
    assert.equal(sum({ set: ['replicaCount=3'] }), base, 'replicaCount is not configuration of the process')
  })

  it('values.schema.json enums are the service enums', () => {
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as {
      properties: { config: { properties: Record<string, { enum?: string[] }> & { sasl: { properties: Record<string, { enum?: string[] }> }; tracing: { properties: Record<string, { enum?: string[] }> } } } }
    }
    const c = schema.properties.config.properties
    assert.deepEqual(c.commitMode?.enum, [...COMMIT_MODES])
    assert.deepEqual(c.valueFormat?.enum, [...VALUE_FORMATS])
    assert.deepEqual(c.logLevel?.enum, [...LOG_LEVELS])
    assert.deepEqual(c.sasl.properties.mechanism?.enum, ['', ...SASL_MECHANISMS])
    assert.deepEqual(c.tracing.properties.exporter?.enum, [...TRACES_EXPORTERS])
    assert.deepEqual(c.tracing.properties.sampler?.enum, [...TRACES_SAMPLERS])
  })
})

describe('helm chart: values.schema.json and template checks refuse bad values', () => {
  it('replicaCount=notanumber', () => assertRefused({ set: ['replicaCount=notanumber'] }, /replicaCount/))
  it('config.commitMode=maybe', () => assertRefused({ set: ['config.commitMode=maybe'] }, /commitMode/))
  it('config.valueFormat=xml', () => assertRefused({ set: ['config.valueFormat=xml'] }, /valueFormat/))
  it('config.tracing.exporter=jaeger', () => assertRefused({ set: ['config.tracing.exporter=jaeger'] }, /exporter/))
  it('config.tracing.samplerArg=2', () => assertRefused({ set: ['config.tracing.samplerArg=2'] }, /samplerArg/))
  it('config.logLevel=loud', () => assertRefused({ set: ['config.logLevel=loud'] }, /logLevel/))
  it('config.sasl.mechanism=gssapi', () => assertRefused({ set: ['config.sasl.mechanism=gssapi'] }, /mechanism/))
  it('config.commitWindow=0', () => assertRefused({ set: ['config.commitWindow=0'] }, /commitWindow/))
  it('config.shutdownTimeoutMs=soon', () => assertRefused({ set: ['config.shutdownTimeoutMs=soon'] }, /shutdownTimeoutMs/))
  it('config.brokers without a port', () => assertRefused({ set: ['config.brokers=kafka'] }, /brokers/))
  it('a misspelt config key', () => assertRefused({ set: ['config.comitMode=sync'] }, /comitMode/))
  it('SASL without a password or Secret', () =>
    assertRefused({ set: ['config.sasl.mechanism=plain', 'config.sasl.username=u'] }, /existingSecret/))
  it('a heartbeat interval not below the session timeout', () =>
    assertRefused({ set: ['config.heartbeatIntervalMs=30000'] }, /heartbeatIntervalMs/))
  it('SASL without a user', () =>
    assertRefused({ set: ['config.sasl.mechanism=plain', 'config.sasl.existingSecret=s'] }, /username/))
})

// ---------------------------------------------------------------------------------------------
// Chart metadata and the generated README.

describe('helm chart: Chart.yaml and README', () => {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>

  it('appVersion is the version of package.json (the image the chart deploys by default)', () => {
    assert.equal(chart.appVersion, pkg.version)
  })

  it('declares kubeVersion (>= 1.25: policy/v1 PDB, Pod Security Admission) and an icon', () => {
    assert.equal(chart.kubeVersion, '>=1.25.0-0')
    const r = helmTemplate({ set: [] })
    assert.equal(r.status, 0)
    const old = helm(['template', 't', chartDir, '--kube-version', '1.24.0'])
    assert.notEqual(old.status, 0, 'rendering for Kubernetes 1.24 must be refused')
    assert.match(old.stderr, /kubeVersion/)
    const icon = String(chart.icon ?? '')
    const m = /^data:image\/svg\+xml;base64,(.+)$/.exec(icon)
    assert.ok(m?.[1], `icon is an inline SVG (data: URI), got ${icon.slice(0, 40)}`)
    assert.match(Buffer.from(m[1], 'base64').toString(), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  })

  it('names no home or sources the project does not have', () => {
    // The repository has no public address of its own (package.json has no "repository").
    assert.equal(pkg.repository, undefined, 'package.json now names a repository: add it as Chart.yaml sources')
    assert.equal(chart.home, undefined)
    assert.equal(chart.sources, undefined)
  })

  it('the README parameters table is the one readme-generator-for-helm makes from values.yaml', () => {
    const bin = join(repoRoot, 'node_modules', '.bin', 'readme-generator')
    const copy = join(scratchDir('chart-readme-'), 'README.md')
    const committed = readFileSync(join(chartDir, 'README.md'), 'utf8')
    copyFileSync(join(chartDir, 'README.md'), copy)
    const r = spawnSync(bin, ['--values', join(chartDir, 'values.yaml'), '--readme', copy], { encoding: 'utf8' })
    assert.ok(!r.error, `${bin} did not run (${String(r.error)}): run "npm ci" (devDependency @bitnami/readme-generator-for-helm)`)
    assert.equal(r.status, 0, `every value needs a "## @param" comment in values.yaml:\n${r.stdout}${r.stderr}`)
    assert.equal(
      readFileSync(copy, 'utf8'),
      committed,
      'helm/amo-consumer/README.md is out of date: run npx readme-generator --values helm/amo-consumer/values.yaml --readme helm/amo-consumer/README.md',
    )
    for (const key of ['config.partitionConcurrency', 'networkPolicy.enabled', 'metrics.prometheusRule.enabled', 'tests.enabled']) {
      assert.ok(committed.includes(`| \`${key}\``), `${key} is in the table`)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Alert rules and dashboard: one source with compose.

interface RuleFile {
  groups: { name: string; interval?: string; rules: { alert?: string; record?: string; expr: string; labels?: Record<string, string> }[] }[]
}
interface PrometheusRule extends K8sObject {
  spec: RuleFile
}

describe('helm chart: files shared with the compose stack', () => {
  const shared = [
    { link: 'files/alerts.yml', target: 'deploy/prometheus/alerts.yml' },
    { link: 'files/dashboard.json', target: 'deploy/grafana/dashboards/amo-consumer.json' },
  ]

  for (const { link, target } of shared) {
    it(`${link} is a symbolic link to ${target}`, () => {
      const path = join(chartDir, link)
      assert.ok(lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink(), `${link} is not a symbolic link`)
      assert.equal(realpathSync(path), realpathSync(join(repoRoot, target)), `${link} does not resolve to ${target}`)
    })
  }

  it('helm package stores the content of both files (not links) in the archive', () => {
    const dir = scratchDir('chart-package-')
    const tgz = helmPackage(dir)
    const x = spawnSync('tar', ['-xzf', tgz, '-C', dir], { encoding: 'utf8' })
    assert.equal(x.status, 0, `tar -xzf failed: ${x.stderr}`)
    for (const { link, target } of shared) {
      const packed = join(dir, 'amo-consumer', link)
      assert.ok(lstatSync(packed).isFile(), `${link} is a regular file in the archive`)
      assert.equal(readFileSync(packed, 'utf8'), readFileSync(join(repoRoot, target), 'utf8'))
    }
    assert.ok(!readdirSync(join(dir, 'amo-consumer')).includes('ci'), 'ci/ stays out of the package (.helmignore)')
  })
})

describe('helm chart: PrometheusRule', () => {
  const file = parseYaml(readFileSync(join(chartDir, 'files', 'alerts.yml'), 'utf8')) as RuleFile
  const alertsOf = (f: RuleFile): string[] => f.groups.flatMap((g) => g.rules.map((r) => r.alert ?? r.record ?? ''))

  it('the rule file has alerts', () => {
    assert.ok(alertsOf(file).length > 0)
  })

  it('renders every rule of files/alerts.yml unchanged but for the added labels', () => {
    const r = render({ set: ['metrics.prometheusRule.enabled=true'] })
    const pr = one<PrometheusRule>(r, 'PrometheusRule')
    assert.equal(pr.apiVersion, 'monitoring.coreos.com/v1')
    assert.deepEqual(pr.spec, file, 'with no extra labels and nothing disabled the spec is the file')
  })

  it('ci/monitoring-values.yaml: selector labels, a label on every alert, a disabled alert', () => {
    const docs = render({ files: ['ci/monitoring-values.yaml'] })
    const pr = one<PrometheusRule>(docs, 'PrometheusRule')
    const deployment = one<Deployment>(docs, 'Deployment')
    assert.equal(pr.metadata.labels?.release, 'kube-prometheus-stack', 'label for the ruleSelector')
    for (const [k, v] of Object.entries(deployment.metadata.labels ?? {})) {
      assert.equal(pr.metadata.labels?.[k], v, `the PrometheusRule carries the chart label ${k}`)
    }
    const expected = alertsOf(file).filter((a) => a !== 'AmoConsumerRebalanceStorm')
    assert.deepEqual(alertsOf(pr.spec), expected, 'every alert but the disabled one')
    const exprs = new Map(file.groups.flatMap((g) => g.rules.map((x) => [x.alert, x.expr] as const)))
    for (const rule of pr.spec.groups.flatMap((g) => g.rules)) {
      assert.equal(rule.labels?.team, 'data-platform', `${rule.alert} gets additionalRuleLabels`)
      assert.ok(rule.labels?.severity, `${rule.alert} keeps its severity`)
      assert.equal(rule.expr, exprs.get(rule.alert), `${rule.alert}: expression unchanged`)
    }
  })

  it('runbookBaseUrl turns each runbook path into an absolute runbook_url; without it there is none', () => {
    const base = 'https://git.example.com/amo-consumer/-/blob/main/'
    type Annotated = { alert?: string; annotations?: Record<string, string> }
    const rulesOf = (docs: K8sObject[]): Annotated[] =>
      one<PrometheusRule>(docs, 'PrometheusRule').spec.groups.flatMap((g) => g.rules as Annotated[])
    const withUrl = rulesOf(render({ set: ['metrics.prometheusRule.enabled=true', `metrics.prometheusRule.runbookBaseUrl=${base}`] }))
    assert.ok(withUrl.some((r) => r.annotations?.runbook), 'the rule file gives runbook paths')
    for (const r of withUrl) {
      const path = r.annotations?.runbook
      assert.equal(r.annotations?.runbook_url, path ? `${base}${path}` : undefined, r.alert)
    }
    for (const r of rulesOf(render({ set: ['metrics.prometheusRule.enabled=true'] }))) {
      assert.equal(r.annotations?.runbook_url, undefined, r.alert)
    }
  })

  it("a label the rule file sets wins over additionalRuleLabels", () => {
    const docs = render({ files: [valuesFile({ metrics: { prometheusRule: { enabled: true, additionalRuleLabels: { severity: 'info' } } } })] })
    const pr = one<PrometheusRule>(docs, 'PrometheusRule')
    const fileSeverity = new Map(file.groups.flatMap((g) => g.rules.map((x) => [x.alert, x.labels?.severity] as const)))
    for (const rule of pr.spec.groups.flatMap((g) => g.rules)) {
      assert.equal(rule.labels?.severity, fileSeverity.get(rule.alert) ?? 'info', rule.alert)
    }
  })
})

describe('helm chart: Grafana dashboard ConfigMap', () => {
  const dashboard: unknown = JSON.parse(readFileSync(join(chartDir, 'files', 'dashboard.json'), 'utf8'))
  const dashboardCm = (docs: K8sObject[]): K8sObject => {
    const cms = ofKind(docs, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-dashboard'))
    assert.equal(cms.length, 1, 'one dashboard ConfigMap')
    return cms[0] as K8sObject
  }

  it('ci/monitoring-values.yaml: the sidecar label, the folder annotation, the namespace, the JSON of the file', () => {
    const cm = dashboardCm(render({ files: ['ci/monitoring-values.yaml'] }))
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1', 'the label the Grafana sidecar selects')
    assert.equal(cm.metadata.annotations?.grafana_folder, 'Kafka')
    assert.equal(cm.metadata.namespace, 'monitoring')
    assert.deepEqual(Object.keys(cm.data ?? {}), ['amo-consumer.json'])
    assert.deepEqual(JSON.parse(cm.data?.['amo-consumer.json'] ?? ''), dashboard)
  })

  it('the sidecar label and value are values', () => {
    const cm = dashboardCm(
      render({
        set: [
          'metrics.grafanaDashboard.enabled=true',
          'metrics.grafanaDashboard.sidecarLabel=dashboards',
          'metrics.grafanaDashboard.sidecarLabelValue=amo',
        ],
      }),
    )
    assert.equal(cm.metadata.labels?.dashboards, 'amo')
    assert.equal(cm.metadata.labels?.grafana_dashboard, undefined)
    assert.equal(cm.metadata.namespace, 'consumers', 'the release namespace by default')
  })
})

// ---------------------------------------------------------------------------------------------
// NetworkPolicy.

interface PolicyPort {
  port: number | string
  protocol?: string
}
interface PolicyPeer {
  podSelector?: { matchLabels?: Record<string, string> }
  namespaceSelector?: { matchLabels?: Record<string, string> }
}
interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: { matchLabels: Record<string, string> }
    policyTypes: string[]
    ingress: { ports?: PolicyPort[]; from?: PolicyPeer[] }[]
    egress: { ports?: PolicyPort[]; to?: PolicyPeer[] }[]
  }
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v)

describe('helm chart: NetworkPolicy', () => {
  it('ci/networkpolicy-values.yaml: the consumer pods, Kafka ports from config.brokers, DNS, http from monitoring and the test pod', () => {
    const docs = render({ files: ['ci/networkpolicy-values.yaml'] })
    const np = one<NetworkPolicy>(docs, 'NetworkPolicy')
    const deployment = one<Deployment>(docs, 'Deployment')
    assert.deepEqual(np.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels)
    assert.deepEqual([...np.spec.policyTypes].sort(), ['Egress', 'Ingress'])

    const [kafka, dns, ...rest] = np.spec.egress
    assert.equal(rest.length, 0, 'no other egress')
    assert.deepEqual(kafka?.ports, [
      { port: 9093, protocol: 'TCP' },
      { port: 9094, protocol: 'TCP' },
    ])
    assert.deepEqual(kafka?.to, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kafka' } } }])
    assert.deepEqual(dns?.ports, [
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ])
    assert.equal(dns?.to?.[0]?.podSelector?.matchLabels?.['k8s-app'], 'kube-dns')

    assert.equal(np.spec.ingress.length, 1)
    const ingress = np.spec.ingress[0]
    assert.deepEqual(ingress?.ports, [{ port: 'http', protocol: 'TCP' }])
    const container = deployment.spec.template.spec.containers[0]
    assert.ok(container?.ports?.some((p) => p.name === 'http'), 'the pods have a port named http')
    assert.equal(ingress?.from?.[0]?.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'], 'monitoring')
    const testPod = one(docs, 'Pod')
    assert.ok(
      ingress?.from?.some((peer) => !peer.namespaceSelector && peer.podSelector && selects(peer.podSelector.matchLabels, testPod.metadata.labels)),
      'the helm test pod may reach the http port',
    )
  })

  it('defaults: the port of the default brokers, DNS to anywhere, http from anywhere', () => {
    const np = one<NetworkPolicy>(render({ set: ['networkPolicy.enabled=true'] }), 'NetworkPolicy')
    assert.deepEqual(np.spec.egress[0], { ports: [{ port: 9092, protocol: 'TCP' }] })
    assert.deepEqual(np.spec.egress[1]?.to, undefined)
    assert.deepEqual(np.spec.ingress, [{ ports: [{ port: 'http', protocol: 'TCP' }] }])
  })

  it('explicit Kafka ports, DNS off, extra rules', () => {
    const np = one<NetworkPolicy>(
      render({
        files: [
          valuesFile({
            config: { brokers: 'a:9092,b:9092,[::1]:19092' },
            networkPolicy: {
              enabled: true,
              dns: { enabled: false },
              extraEgress: [{ ports: [{ port: 443, protocol: 'TCP' }] }],
            },
          }),
        ],
      }),
      'NetworkPolicy',
    )
    assert.deepEqual(np.spec.egress[0]?.ports?.map((p) => p.port), [9092, 19092], 'distinct broker ports, IPv6 literal included')
    assert.deepEqual(np.spec.egress[1], { ports: [{ port: 443, protocol: 'TCP' }] }, 'no DNS rule, then the extra rule')
    const set = one<NetworkPolicy>(render({ set: ['networkPolicy.enabled=true', 'networkPolicy.kafka.ports={9095}'] }), 'NetworkPolicy')
    assert.deepEqual(set.spec.egress[0]?.ports, [{ port: 9095, protocol: 'TCP' }])
  })
})

// ---------------------------------------------------------------------------------------------
// helm test.

interface TestPod extends K8sObject {
  spec: {
    restartPolicy: string
    automountServiceAccountToken?: boolean
    securityContext?: unknown
    containers: (Container & { command?: string[] })[]
  }
}

describe('helm chart: helm test hook', () => {
  const docs = render({ files: ['ci/networkpolicy-values.yaml'] })
  const pod = one<TestPod>(docs, 'Pod')
  const deployment = one<Deployment>(docs, 'Deployment')
  const container = pod.spec.containers[0] as Container & { command?: string[] }
  const envOf = (name: string): string | undefined => container.env?.find((e) => e.name === name)?.value

  it('is a test hook pod with the image and the restricted security context of the consumer', () => {
    assert.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test')
    assert.equal(pod.spec.restartPolicy, 'Never')
    assert.equal(pod.spec.automountServiceAccountToken, false)
    const consumer = deployment.spec.template.spec.containers[0] as Container
    assert.equal(container.image, consumer.image, "the image's own node, no other image")
    assert.deepEqual(pod.spec.securityContext, deployment.spec.template.spec.securityContext)
    assert.deepEqual(container.securityContext, consumer.securityContext)
    assert.equal(container.command?.[0], 'node')
  })

  it('targets /readyz on the Service port', () => {
    const svc = one<Service>(docs, 'Service')
    const port = svc.spec.ports.find((p) => p.name === 'http')?.port
    assert.equal(envOf('READYZ_URL'), `http://${svc.metadata.name}:${port}/readyz`)
  })

  it('is selected by neither the Service, the PodDisruptionBudget nor the NetworkPolicy', () => {
    const svc = one<Service>(docs, 'Service')
    assert.ok(!selects(svc.spec.selector, pod.metadata.labels), 'Service')
    const pdb = one(docs, 'PodDisruptionBudget') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }
    assert.ok(!selects(pdb.spec.selector.matchLabels, pod.metadata.labels), 'PodDisruptionBudget')
    const np = one<NetworkPolicy>(docs, 'NetworkPolicy')
    assert.ok(!selects(np.spec.podSelector.matchLabels, pod.metadata.labels), 'NetworkPolicy')
  })

  it('tests.enabled=false renders no test pod', () => {
    assert.equal(ofKind(render({ set: ['tests.enabled=false'] }), 'Pod').length, 0)
  })

  describe('its script, run with node against a local HTTP server', () => {
    let status = 200
    let server: Server
    let base = ''
    before(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === '/readyz' ? status : 404
        res.end()
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    after(() => new Promise<void>((resolve) => server.close(() => resolve())))

    const run = (url: string, timeoutSeconds: string): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve, reject) => {
        const [cmd, ...args] = container.command ?? []
        const child = spawn(cmd ?? 'node', args, {
          env: { ...process.env, READYZ_URL: url, TIMEOUT_SECONDS: timeoutSeconds },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        child.stdout.on('data', (d: Buffer) => (out += d.toString()))
        child.stderr.on('data', (d: Buffer) => (out += d.toString()))
        child.on('error', reject)
        child.on('close', (code) => resolve({ code, out }))
      })

    it('exits 0 when /readyz answers 200', async () => {
      status = 200
      const r = await run(`${base}/readyz`, '5')
      assert.equal(r.code, 0, r.out)
      assert.match(r.out, /: 200/)
    })

    it('exits 1 when /readyz answers 503 until the deadline', async () => {
      status = 503
      const r = await run(`${base}/readyz`, '0')
      assert.equal(r.code, 1, r.out)
      assert.match(r.out, /HTTP 503; no ready consumer within 0 s/)
    })

    it('exits 1 when nothing listens', async () => {
      const closed = createServer()
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
      const port = (closed.address() as AddressInfo).port
      await new Promise<void>((resolve) => closed.close(() => resolve()))
      const r = await run(`http://127.0.0.1:${port}/readyz`, '0')
      assert.equal(r.code, 1, r.out)
      assert.match(r.out, /ECONNREFUSED/)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// PARTITION_CONCURRENCY and the brokers' CA.

describe('helm chart: partitionConcurrency and the brokers CA', () => {
  for (const [value, env] of [
    ['all', 'all'],
    ['8', '8'],
  ] as const) {
    it(`config.partitionConcurrency=${value} reaches the container as ${env}, a value the service accepts`, () => {
      const r = renderRead({ set: [`config.partitionConcurrency=${value}`] })
      assert.equal(r.configMapData.PARTITION_CONCURRENCY, env)
      assert.equal(envValueProblem('PARTITION_CONCURRENCY', env), undefined)
    })
  }
  it('config.partitionConcurrency=some is refused', () =>
    assertRefused({ set: ['config.partitionConcurrency=some'] }, /partitionConcurrency/))
  it('config.partitionConcurrency=0 is refused', () =>
    assertRefused({ set: ['config.partitionConcurrency=0'] }, /partitionConcurrency/))

  it('config.sslCa.existingSecret: mounted read-only, KAFKA_SSL_CA_FILE points into it, TLS on, KEDA gets the CA', () => {
    const r = renderRead({ files: ['ci/existing-secret-values.yaml'] })
    const file = r.env.get('KAFKA_SSL_CA_FILE') ?? ''
    const mount = (r.container.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`))
    assert.ok(mount, `a volume is mounted where KAFKA_SSL_CA_FILE=${file} points`)
    assert.equal((mount as { readOnly?: boolean }).readOnly, true)
    const vol = (r.deployment.spec.template.spec.volumes ?? []).find((v) => v.name === mount.name) as
      | { secret?: { secretName: string; items: { key: string; path: string }[] } }
      | undefined
    assert.equal(vol?.secret?.secretName, 'my-cluster-cluster-ca-cert')
    assert.equal(`${mount.mountPath}/${vol?.secret?.items[0]?.path}`, file)
    assert.equal(r.env.get('KAFKA_SSL'), 'true')
    const ta = one(r.docs, 'TriggerAuthentication') as K8sObject & {
      spec: { secretTargetRef: { parameter: string; name: string; key: string }[] }
    }
    assert.deepEqual(
      ta.spec.secretTargetRef.find((s) => s.parameter === 'ca'),
      { parameter: 'ca', name: 'my-cluster-cluster-ca-cert', key: 'ca.crt' },
    )
  })

  it('a CA from a Secret and from a ConfigMap at once is refused', () =>
    assertRefused({ set: ['config.sslCa.existingSecret=a', 'config.sslCa.existingConfigMap=b'] }, /not both/))
})
