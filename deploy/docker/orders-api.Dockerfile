# Decoupled mode, API fleet: HTTP API + workflow client only. Only `-p orders-api` is built,
# so no workflow logic is compiled into this image.
# Build from the repo root:
#   docker build -f deploy/docker/orders-api.Dockerfile -t workflow/orders-api:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the crate registry and compiled dependencies across builds, so a
# source change recompiles only workspace crates. The target dir is a cache mount (shared by all
# images), so the binary is copied out of it into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/cache/target,sharing=locked \
    CARGO_TARGET_DIR=/cache/target cargo build --release --locked -p orders-api --bin orders-api \
 && install -D -m 0755 /cache/target/release/orders-api /src/target/release/orders-api

# glibc + libgcc + CA roots (rustls uses the system roots), no shell, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="orders-api" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /src/target/release/orders-api /usr/local/bin/orders-api
ENV ORDERS_LISTEN=0.0.0.0:8080 \
    WORKFLOW_HEALTH_LISTEN=0.0.0.0:9090
USER 65532:65532
EXPOSE 8080 9090
# `probe` is built in (distroless has no curl/shell): exit 0 iff the health endpoint answers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/orders-api", "probe"]
ENTRYPOINT ["/usr/local/bin/orders-api"]
