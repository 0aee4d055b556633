# authnzd: build stage compiles TypeScript and the native SQLite binding; the runtime stage
# holds only production dependencies and runs as the unprivileged `node` user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# npm ci compiles the sources too (the package's `prepare` script), so they come first.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    AUTHNZD_HOST=0.0.0.0 \
    AUTHNZD_PORT=13431 \
    AUTHNZD_DATA_DIR=/data \
    AUTHNZD_PERMISSIONS=/app/permissions.json
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json permissions.json ./
COPY drizzle ./drizzle
COPY bin ./bin
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 13431
# GET /health over HTTP, or HTTPS when AUTHNZD_TLS_CERT is set (bin/healthcheck.js).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "bin/healthcheck.js"]
CMD ["node", "dist/src/server.js"]
