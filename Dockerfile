# amo-consumer container image.
#
#   docker build -t amo-consumer:0.1.0 .
#   docker run --rm -e KAFKA_BROKERS=host.docker.internal:9092 -p 8080:8080 amo-consumer:0.1.0
#
# Two stages: `build` compiles TypeScript with the dev dependencies; `runtime` holds only the
# compiled JavaScript and the production dependencies. Both stages use the same pinned Node LTS
# major on Debian bookworm-slim (glibc, so native add-ons and their prebuilt binaries just work).
#
# Base image use: FROM amo-consumer:0.1.0, COPY a handler module under /app/handlers/ and set
# HANDLER=/app/handlers/<file>.js (see docs/containers.md, "Your own handler").

# ---------------------------------------------------------------------------------------------
# build: npm ci (all dependencies) + tsc  ->  /app/dist
# ---------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
# Manifests first so the dependency layer is cached until package*.json change.
# --ignore-scripts: this stage only runs tsc, no install script (native prebuilds of the test
# tooling) is needed to compile.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
# runtime: production dependencies + dist, non-root, tini as PID 1
# ---------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime

# tini is PID 1: it forwards SIGTERM/SIGINT to Node (which then runs the graceful shutdown and
# the final offset commit) and reaps zombies. Installed from Debian, at /usr/bin/tini.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

COPY --from=build /app/dist ./dist

# Build metadata, passed by whoever builds (nothing is guessed here). Declared after the last
# RUN so that a new revision or date does not invalidate the cached layers above:
#   docker build \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     -t amo-consumer:0.1.0 .
# Left empty, the labels are empty. A source URL can be added at build time the same way
# (docker build --label org.opencontainers.image.source=<url>).
ARG REVISION=""
ARG CREATED=""

# OCI image annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
# version is package.json's "version" (test/dockerfile.test.ts keeps them equal).
LABEL org.opencontainers.image.title="amo-consumer" \
      org.opencontainers.image.description="At-most-once Kafka consumer service: commit before processing, graceful SIGTERM with a final commit, health/readiness and Prometheus metrics" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# Files stay owned by root and read-only for the process; it writes nothing but /tmp.
# Numeric UID:GID (the image's `node` user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000

# HTTP: /healthz (liveness), /readyz (readiness), /metrics (Prometheus). Set by PORT.
EXPOSE 8080

# No curl/wget in the image: a 20-line Node script probes /healthz on PORT (default 8080).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "/app/dist/healthcheck.js"]

# Exec form throughout: no shell in between, so the signal reaches Node.
# Absolute paths so an image built FROM this one may change WORKDIR.
# The Node flags are package.json's "start" script's (test/dockerfile.test.ts keeps them equal;
# the tests and the bench start the service with them too). Node 24 sizes V8's heap from the
# memory it sees: the container's limit when there is one, else the host's, where it allows a
# young generation of up to 3 x 64 MB and an old generation that grows to 4x its live data
# between full collections. --max-semi-space-size=8 fixes the young generation at 3 x 8 MB and
# --heap-growing-percent=50 the growth at 1.5x, wherever it runs: peak RSS 106-176 MB in the
# benchmark instead of 120-343 MB, for no measurable CPU (docs/benchmarks.md, "Memory").
# NODE_OPTIONS (the chart's extraEnv) adds to these flags; a flag given in both loses to CMD's.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "/app/dist/server.js"]
