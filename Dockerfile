# kubevirt-net-injector: one image, two roles (`webhook ...`, `controller ...`).
#
# Runtime base: distroless Node 20 (Debian 12), tag nonroot: node, glibc, libstdc++, OpenSSL, CA
# certificates and tzdata; no shell, no package manager, no npm; user 65532. Less to patch and
# nothing to exec into, which a cluster-wide admission webhook should not offer; probes are HTTP.
# Debug with `kubectl debug --image=... --target=webhook` instead of a shell.
#
# make image builds it with podman; where no registry is reachable, `make image-bases` first
# imports local stand-ins under these two names (hack/image/standin-bases.sh) and the build runs
# with --pull=never.
ARG BUILD_BASE=docker.io/library/node:20-bookworm-slim
ARG RUNTIME_BASE=gcr.io/distroless/nodejs20-debian12:nonroot

# Production dependencies only, in a layer of their own (rebuilt when the lock file changes).
FROM ${BUILD_BASE} AS deps
# Only for a network behind a TLS-inspecting proxy: make image mounts the host's CA bundle for the
# npm steps (never kept in the image).
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# The TypeScript compile, with the dev dependencies, of src/ only.
FROM ${BUILD_BASE} AS build
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN node_modules/.bin/tsc -p tsconfig.json --sourceMap false --outDir dist

FROM ${RUNTIME_BASE}
ENV NODE_ENV=production
WORKDIR /app
# Everything root-owned and read-only to the process: the root filesystem can be mounted
# read-only; nothing is written at run time (logs go to stdout).
COPY package.json ./
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
