# The embedded engine as a standalone Temporal-compatible gRPC server (SQLite), for local use
# when a full Temporal cluster is too heavy.
# Build from the repo root:
#   docker build -f deploy/docker/workflow-engine.Dockerfile -t workflow/workflow-engine:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the crate registry and compiled dependencies across builds, so a
# source change recompiles only workspace crates. The target dir is a cache mount (shared by all
# images), so the binary is copied out of it into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/cache/target,sharing=locked \
    CARGO_TARGET_DIR=/cache/target cargo build --release --locked -p workflow-engine --bin workflow-engine \
 && install -D -m 0755 /cache/target/release/workflow-engine /src/target/release/workflow-engine \
 && mkdir -p /data

# glibc + libgcc + CA roots (rustls uses the system roots), no shell, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="workflow-engine" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /src/target/release/workflow-engine /usr/local/bin/workflow-engine
# SQLite files live here; owned by the runtime user so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
EXPOSE 7233
# `probe` is built in (distroless has no curl/shell): exit 0 iff the gRPC port answers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/workflow-engine", "probe"]
ENTRYPOINT ["/usr/local/bin/workflow-engine"]
CMD ["--ip", "0.0.0.0", "--port", "7233", "--db-filename", "/data/engine.db", "--headless"]
