# amo-consumer container image.
#
#   docker build -t amo-consumer .
#   docker run --rm -e KAFKA_BROKERS=host.docker.internal:9092 -p 8080:8080 amo-consumer
#
# Two stages: `build` compiles TypeScript with the dev dependencies; `runtime` holds only the
# compiled JavaScript and the production dependencies. Both stages use the same pinned Node LTS
# major on Debian bookworm-slim (glibc, so native add-ons and their prebuilt binaries just work).
#
# Base image use: FROM amo-consumer, COPY a handler module under /app/handlers/ and set
# HANDLER=/app/handlers/<file>.js (see README, "Using the image as a base image").

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
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "/app/dist/server.js"]
