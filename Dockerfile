# Twine's image: the runtime stage has Node.js and the tools Twine and its
# users need in a container's namespace: nft (nftables), nsenter (util-linux),
# ip (iproute2); the build stage compiles the native addon (node-gyp, g++,
# libnftables headers) and the TypeScript; the last stage puts the two together.
#
#   docker build -t twine .
#
# and run it as examples/twine/docker-compose.yml does (its header says why
# each capability, mount and option is needed).
#
# Building without a registry (how Twine's own image test builds it): make an
# image whose /app holds the built app (`npm ci`, then
# `node scripts/stage-app.mjs <dir>`, then `tar -C <dir> -c . | docker import
# - <app-image>` with the files under /app), and build the `prebuilt` target:
#
#   docker build --target prebuilt --build-arg APP_IMAGE=<app-image> \
#     [--build-arg NODE_IMAGE=<a local Node 20 image>] -t twine .
#
# Stages before --target are built even when unused by the legacy builder, so
# `prebuilt` comes before `build`, and APP_IMAGE defaults to a stage of this
# file.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG APP_IMAGE=runtime

FROM ${NODE_IMAGE} AS runtime
# Installed from Debian unless the base image already has them (mount: for
# bin/docker-entrypoint.sh).
RUN if ! command -v nft >/dev/null || ! command -v nsenter >/dev/null || ! command -v ip >/dev/null \
      || ! command -v mount >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends nftables libnftables1 util-linux iproute2 mount \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && mkdir -p /usr/local/bin /run/twine \
 && ln -s /app/bin/twine.js /usr/local/bin/twine
WORKDIR /app
ENV NODE_ENV=production \
    TWINE_LOG_FORMAT=json
# The status socket (also the one-twine-per-host guard); mount /run/twine to
# use `twine status` from the host. 9117 is the HTTP status/metrics port
# (listens on 127.0.0.1 unless TWINE_LISTEN says otherwise).
VOLUME ["/run/twine"]
EXPOSE 9117
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["twine", "healthcheck", "--quiet"]
# Runs `twine "$@"`; before `twine start` it makes /proc/sys/net writable (see the script).
ENTRYPOINT ["/app/bin/docker-entrypoint.sh"]
CMD ["start"]

# The runtime with an app built outside this file (see the top).
FROM ${APP_IMAGE} AS app-image
FROM runtime AS prebuilt
COPY --from=app-image /app/ /app/

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 libnftables-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts off: the addon is built below, once its sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY binding.gyp tsconfig.json ./
COPY scripts ./scripts
COPY native ./native
# The daemon's addon and the runtime's executables only: the bench-only addon
# (twine_bench, the benchmarks' namespace watch) has no use in the image.
RUN node scripts/build-native.mjs --no-bench
COPY bin ./bin
COPY dashboard ./dashboard
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && node scripts/bundle.mjs \
 && node scripts/stage-app.mjs /out/app

FROM runtime
# package.json + binding.gyp mark the package root, where the addon loader looks for build/Release.
COPY --from=build /out/app/ /app/
