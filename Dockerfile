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
EXPOSE 7070
ENTRYPOINT ["node", "dist/bin/idsync.js"]
