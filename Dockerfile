# First version: the runtime image for `twine start` (issue 6 extends it).
# Twine needs: the Docker socket, pid: host (to reach /proc/<pid>/ns/net of
# containers) and privileges to enter namespaces (see examples/).

FROM node:20-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 libnftables-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
COPY scripts ./scripts
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY bin ./bin
RUN npm ci && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nftables iproute2 util-linux libnftables1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/build/Release ./build/Release
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/bin ./bin
ENV TWINE_LOG_FORMAT=json
ENTRYPOINT ["node", "/app/bin/twine.js"]
CMD ["start"]
