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
USER node
EXPOSE 8080 8081 8082 8083 9090
ENTRYPOINT ["node", "cmd/keybrake.ts"]
CMD ["serve", "--manifests", "/etc/keybrake/manifests", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9090"]
