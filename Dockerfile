# syntax=docker/dockerfile:1
# chakal-ingest: release build, then a small runtime image (CA certificates, OpenSSL, non-root user).

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sql ./sql
RUN cargo build --release --locked --bin chakal-ingest

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/chakal-ingest --create-home chakal
COPY --from=build /src/target/release/chakal-ingest /usr/local/bin/chakal-ingest
USER chakal
WORKDIR /var/lib/chakal-ingest
ENV HTTP_ADDR=0.0.0.0:5000 \
    LOG_LEVEL=Information
EXPOSE 5000
# No curl in the image: the binary checks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["chakal-ingest", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["chakal-ingest"]
