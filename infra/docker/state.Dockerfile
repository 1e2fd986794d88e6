# syntax=docker/dockerfile:1.7
# tether-state: the durable stream state service.
#
#   docker build -f infra/docker/state.Dockerfile -t tether-state:dev .     # from the repo root
#
# state.Dockerfile.dockerignore (beside this file) keeps target/ and other bulk out of the
# build context.

FROM rust:1-bookworm AS build
# cmake: native builds of the crypto (aws-lc) and Kafka (librdkafka) dependencies; libssl-dev and
# pkg-config: librdkafka's TLS and SASL/SCRAM (rdkafka's `ssl` feature links the system OpenSSL).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds; the binary is copied out of the
# cache because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tether-state --bin tether-state \
 && install -D -m 0755 target/release/tether-state /out/tether-state

FROM debian:bookworm-slim
# ca-certificates: TLS to S3, ElastiCache (rediss://) and MSK. libssl3: OpenSSL, which librdkafka
# is linked against (SASL_SSL, SCRAM). bash: the health check below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tether \
 && useradd --system --uid 10001 --gid tether --home-dir /var/lib/tether --shell /usr/sbin/nologin tether \
 && install -d -o tether -g tether -m 0750 /var/lib/tether
COPY --from=build /out/tether-state /usr/local/bin/tether-state

# The container contract (terraform/modules/service_env, infra/env-contract.json); Redis, S3 and
# Kafka settings come from the deployment.
ENV TETHER_LISTEN=0.0.0.0:4437 \
    TETHER_DATA_DIR=/var/lib/tether \
    TETHER_LOG_FORMAT=json

USER tether:tether
WORKDIR /var/lib/tether
EXPOSE 4437

# No curl in the image: bash's /dev/tcp speaks enough HTTP for a liveness probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${TETHER_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM starts the graceful shutdown (readyz 503, drain, exit).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tether-state"]
