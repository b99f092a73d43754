# One image with every storm binary (storm-sim, storm-ingester, storm-booksync, storm-streamer,
# storm-arbitrage, storm-executor, storm-candles, stormctl); docker-compose.yml picks the binary per service
# with `command:`. Build: docker build -t storm:local .  (or: docker compose build; BuildKit, the default since Docker 23)

# ---- build ------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole workspace (see .dockerignore: no target/, var/). Cargo.lock pins every dependency.
COPY . .
# Cache mounts keep the crate registry and the target dir between builds (BuildKit); the binaries
# are copied out in the same step because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && find target/release -maxdepth 1 -type f -perm -u+x -name 'storm*' -exec cp {} /out/ \; \
 && ls -l /out

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to the exchanges (wss://, https://) and to rediss:// Redis. Not pinned on
# purpose: it must follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 storm \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin storm
COPY --from=builder /out/ /usr/local/bin/
# The config is mounted here by docker-compose.yml (config/docker.toml).
ENV STORM_CONFIG=/etc/storm/storm.toml \
    NO_COLOR=1
USER 10001:10001
# No default engine: the service's `command:` names the binary, e.g.
#   command: ["storm-booksync", "--config", "/etc/storm/storm.toml"]
CMD ["storm-sim", "--help"]
