FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The zero-config run keeps the Entra emulator's certificate authority in .idsync/.
RUN mkdir -p .idsync && chown node:node .idsync
USER node
# 7070: /healthz, /readyz, /metrics (IDSYNC_HEALTH_PORT); 8080: the HTTP server (IDSYNC_HTTP_PORT).
EXPOSE 7070 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.IDSYNC_HEALTH_PORT || 7070) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/bin/idsync.js"]
