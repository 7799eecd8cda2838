# Keybrake proxy / operator image. Node 24 runs the TypeScript sources directly (type stripping),
# so there is no build step and the image holds exactly what the repository holds.
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY cmd ./cmd
COPY src ./src
COPY crds ./crds
COPY examples ./examples
# Node's module compile cache (src/cli/module-cache.ts), filled here by the user the image runs as:
# node, uid 1000, the chart's runAsUser (Node keeps a cache per user). Pods have a read-only root
# file system, where Node reads a cache but cannot write one: without this, every start stripped the
# types of every module and compiled it again (test/e2e/module-cache-fill.test.ts). It serves nodes
# whose CPU has the same features as the build machine's (V8 tags its code cache with them).
ENV NODE_COMPILE_CACHE=/app/.module-cache
RUN install -d -o node -g node "$NODE_COMPILE_CACHE"
USER node
RUN node cmd/fill-module-cache.ts
# 9090 is the admin port of the chart's proxy and operator, which bind it on the pod's address for
# the kubelet's probes and Prometheus (their admin listeners carry no run API).
EXPOSE 8080 8081 8082 8083 9090
ENTRYPOINT ["node", "cmd/keybrake.ts"]
# The default command, `serve`, keeps its admin listener on loopback (its default, 127.0.0.1:9090):
# it carries the run API, whose callers send the parent vault token over plain HTTP, and unauthenticated
# /metrics (ADR 0010, docs/security.md). Publish it deliberately: --admin-listen 0.0.0.0:9090.
CMD ["serve", "--manifests", "/etc/keybrake/manifests", "--listen", "0.0.0.0:8080"]
