# Demo mode: API + worker + the embedded Temporal-compatible engine in one process (SQLite).
# Not for production: one replica, no clustering.
# Build from the repo root:
#   docker build -f deploy/docker/orders-demo.Dockerfile -t workflow/orders-demo:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the crate registry and compiled dependencies across builds, so a
# source change recompiles only workspace crates. The target dir is a cache mount (shared by all
# images), so the binary is copied out of it into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/cache/target,sharing=locked \
    CARGO_TARGET_DIR=/cache/target cargo build --release --locked -p orders-demo --bin orders-demo \
 && install -D -m 0755 /cache/target/release/orders-demo /src/target/release/orders-demo \
 && mkdir -p /data

# glibc + libgcc + CA roots (rustls uses the system roots), no shell, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="orders-demo" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /src/target/release/orders-demo /usr/local/bin/orders-demo
# SQLite files live here; owned by the runtime user so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /data /data
ENV ORDERS_LISTEN=0.0.0.0:8080 \
    ORDERS_LEDGER_PATH=/data/ledger.db \
    WORKFLOW_ENGINE_DB=/data/engine.db \
    ORDERS_DEMO_DATA=/data \
    WORKFLOW_HEALTH_LISTEN=0.0.0.0:9090
USER 65532:65532
EXPOSE 8080 9090
# `probe` is built in (distroless has no curl/shell): exit 0 iff the health endpoint answers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/orders-demo", "probe"]
ENTRYPOINT ["/usr/local/bin/orders-demo"]
