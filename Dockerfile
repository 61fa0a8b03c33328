# The codehub-build server image. It needs git (smart HTTP and hooks) and the docker-buildx client, which reaches
# a remote buildkitd (CODEHUB_BUILDERS=tcp://buildkitd:1234) or a mounted Docker socket.
# No image can be pulled on the development machines, so the base is an argument: point it at a Node 20+
# Debian image in your registry (../shared/STACK.md shows how to make one offline).
# Debian 13 (trixie) or later: Debian 12 has no docker-buildx package.
ARG BASE=node:20-trixie-slim

FROM ${BASE} AS build
# A C compiler for the native post-receive hook (scripts/build-hook.sh); without one the slower Node hook is used.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY native ./native
COPY scripts ./scripts
COPY migrations ./migrations
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates docker-cli docker-buildx \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
ENV CODEHUB_DATA_DIR=/data CODEHUB_PORT=8080
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8080
USER node
# The #! line of dist/src/cli.js carries the Node flags the server runs with (a smaller young generation).
ENTRYPOINT ["dist/src/cli.js"]
CMD ["serve"]
