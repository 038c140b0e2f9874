# syntax=docker/dockerfile:1
# Twine's image: a builder stage compiles the native addon (node-gyp, g++,
# libnftables headers) and the TypeScript; the runtime stage has Node.js, the
# built app, and the tools Twine and its users need in a container's
# namespace: nft (nftables), nsenter (util-linux), ip (iproute2).
#
#   docker build -t twine .
#   docker run -d --name twine --privileged --pid host \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro -v /run/twine:/run/twine twine
# (or examples/twine/docker-compose.yml)

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 libnftables-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: the addon is built below, once its sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY binding.gyp tsconfig.json ./
COPY scripts ./scripts
COPY native ./native
RUN node scripts/build-native.mjs
COPY bin ./bin
COPY dashboard ./dashboard
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables libnftables1 util-linux iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# package.json + binding.gyp mark the package root, where the addon loader looks for build/Release.
COPY --from=build /app/package.json /app/binding.gyp ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build/Release/twine_native.node ./build/Release/twine_native.node
# The twine runtime's static executables: `twine runtime install` copies them to the host.
COPY --from=build /app/build/Release/twine-runc /app/build/Release/twine-hook ./build/Release/
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/bin ./bin
COPY --from=build /app/dashboard ./dashboard
RUN mkdir -p /usr/local/bin && ln -s /app/bin/twine.js /usr/local/bin/twine \
 && mkdir -p /run/twine
ENV NODE_ENV=production \
    TWINE_LOG_FORMAT=json
# The status socket (also the one-twine-per-host guard); mount /run/twine to
# use `twine status` from the host. 9117 is the HTTP status/metrics port
# (listens on 127.0.0.1 unless TWINE_LISTEN says otherwise).
VOLUME ["/run/twine"]
EXPOSE 9117
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["twine", "healthcheck", "--quiet"]
ENTRYPOINT ["twine"]
CMD ["start"]
