# syntax=docker/dockerfile:1
#
# One image per Carebook service, all built from the same `carebook` binary; the
# build arguments pick which service the image serves and on which port:
#
#   docker build --build-arg SERVICE=identity --build-arg PORT=8081 -t carebook/identity .
#   docker build --build-arg SERVICE=gateway  --build-arg PORT=8080 -t carebook/gateway .
#
# Adding a service needs no change here: it is one more (service, port) entry in
# the matrix of .github/workflows/cd.yml. Every image also runs the admin verbs
# (`carebook migrate all`, `carebook seed-demo`, `carebook keys …`) when given
# them as the command.
#
# Stages: chef (toolchain + cargo-chef) → planner (dependency recipe) → cacher
# (builds only the dependencies; cached until Cargo.toml/Cargo.lock change) →
# builder (builds the workspace on top) ; docs (Swagger UI and htmx from npm) ;
# runtime (Debian slim, non-root, the binary and the assets).

FROM rust:1.95.0-slim-bookworm AS chef
# Same version the crates are tested with (rustup's default on the dev machines).
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS cacher
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin carebook --recipe-path recipe.json

FROM cacher AS builder
COPY . .
RUN cargo build --release --locked --bin carebook \
    && install -m 0755 target/release/carebook /usr/local/bin/carebook

# The gateway serves Swagger UI at /docs from the swagger-ui-dist npm package and
# the portal serves htmx from htmx.org, both pinned by tools/package-lock.json.
# No install scripts run: only files are needed.
FROM node:22-bookworm-slim AS docs
WORKDIR /tools
COPY tools/package.json tools/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM debian:bookworm-slim AS runtime
ARG SERVICE=gateway
ARG PORT=8080
ARG REVISION=unknown
ARG VERSION=dev
ARG SOURCE=https://github.com/carebook/carebook

# ca-certificates: outbound TLS to public certificates (e.g. an SMTP relay);
# our own hops trust the internal CA (CAREBOOK_TLS_CA_FILE) instead.
# curl: carebook-healthcheck below (the binary has no health-probe verb).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# Fixed uid/gid so Kubernetes runAsUser/fsGroup and volume ownership match.
# Where compose mounts its named volumes: keys (identity's signing keys),
# records-keys (the records master keys), certs (the development CA and every
# certificate, `carebook certs generate`) and accounts (RabbitMQ definitions and
# the Redis ACL, `carebook provision`). Owned by the service user, so a fresh
# volume mounted there takes that owner and the one-shot steps, run as that
# user, can write into it.
RUN groupadd --system --gid 10001 carebook \
    && useradd --system --uid 10001 --gid carebook --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin carebook \
    && install -d -o carebook -g carebook -m 0700 /var/lib/carebook \
       /var/lib/carebook/keys /var/lib/carebook/records-keys \
       /var/lib/carebook/certs /var/lib/carebook/accounts

COPY --from=builder /usr/local/bin/carebook /usr/local/bin/carebook
# Two tiny wrappers with the service fixed at build time:
#   carebook-serve        the default command: `carebook serve ${SERVICE}`
#   carebook-healthcheck  [PATH]: GET PATH (default /healthz) from the service
#                         on its port (${SERVICE^^}_BIND, else CAREBOOK_BIND) as
#                         its peers do: over mTLS with its own certificate, the
#                         files its settings name (plain HTTP only with
#                         CAREBOOK_TLS=off); the name checked is the service's,
#                         which its certificate carries. The gateway is asked
#                         on its plain admin port (GATEWAY_ADMIN_BIND) when it
#                         has one, else on its public port. HEALTHCHECK below,
#                         compose.yaml and the Kubernetes probes all use it.
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# The single quotes are deliberate: the $ expressions must reach the scripts unexpanded.
# hadolint ignore=SC2016
RUN printf '#!/bin/sh\nexec /usr/local/bin/carebook serve %s "$@"\n' "${SERVICE}" \
        > /usr/local/bin/carebook-serve \
    && printf '%s\n' \
        '#!/bin/sh' \
        'set -eu' \
        "service=${SERVICE} prefix=${SERVICE^^}" \
        'path=${1:-/healthz}' \
        '# <SERVICE>_<KEY>, else CAREBOOK_<KEY>: the order the service reads them in.' \
        'setting() { printenv "${prefix}_$1" || printenv "CAREBOOK_$1" || true; }' \
        'get() { exec curl -fsS -o /dev/null --max-time 2 "$@"; }' \
        'bind=$(setting BIND) admin=$(setting ADMIN_BIND)' \
        'port=${bind##*:}' \
        'if [ "$service" = gateway ]; then' \
        '  [ -z "$admin" ] || get "http://127.0.0.1:${admin##*:}$path"' \
        '  # The public port asks for no client certificate; with a public one, whose' \
        '  # name is not ours to check here, it speaks TLS.' \
        '  [ -z "$(setting PUBLIC_TLS_CERT_FILE)" ] || get --insecure "https://127.0.0.1:$port$path"' \
        '  get "http://127.0.0.1:$port$path"' \
        'fi' \
        '[ "$(setting TLS)" != off ] || get "http://127.0.0.1:$port$path"' \
        'dir=$(setting TLS_DIR)' \
        'ca=$(setting TLS_CA_FILE) cert=$(setting TLS_CERT_FILE) key=$(setting TLS_KEY_FILE)' \
        'get --cacert "${ca:-$dir/ca.pem}" --cert "${cert:-$dir/$service.pem}" --key "${key:-$dir/$service-key.pem}" --resolve "$service:$port:127.0.0.1" "https://$service:$port$path"' \
        > /usr/local/bin/carebook-healthcheck \
    && chmod 0755 /usr/local/bin/carebook-serve /usr/local/bin/carebook-healthcheck
COPY --from=docs /tools/node_modules/swagger-ui-dist /usr/share/carebook/swagger-ui-dist
COPY --from=docs /tools/node_modules/htmx.org/dist/htmx.min.js /usr/share/carebook/htmx/htmx.min.js

# CAREBOOK_BIND is the fallback of <SERVICE>_BIND: the one service this image
# runs listens on all interfaces; carebook-healthcheck follows its port.
# glibc malloc: two arenas, and blocks of 1 MiB or more (argon2's 19 MiB) mapped
# and unmapped per use; by default an idle identity kept ~1 GiB after 500
# logins (scripts/load, docs/performance.md).
ENV CAREBOOK_BIND=0.0.0.0:${PORT} \
    CAREBOOK_LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    IDENTITY_SIGNING_KEYS_DIR=/var/lib/carebook/keys \
    GATEWAY_DOCS_DIR=/usr/share/carebook/swagger-ui-dist \
    PORTAL_HTMX_DIR=/usr/share/carebook/htmx

LABEL org.opencontainers.image.title="carebook-${SERVICE}" \
      org.opencontainers.image.description="Carebook ${SERVICE} service" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Carebook"

USER 10001:10001
WORKDIR /var/lib/carebook
EXPOSE ${PORT}
# The binary drains in-flight requests on SIGTERM (platform::shutdown).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["carebook-healthcheck"]
# carebook-serve execs the binary, so carebook is PID 1 and gets SIGTERM directly.
CMD ["carebook-serve"]
