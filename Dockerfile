# syntax=docker/dockerfile:1
# token-agent: a small image with just the binary, run as uid 65532.
#   docker build -t token-agent .
#   docker run -p 8080:8080 -e ALLOWED_DOMAINS=example.com -v token-agent-data:/data token-agent
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

# Debian 13 (trixie) on both sides, so the binary finds the glibc it was
# linked against.
FROM rust:1.95-trixie AS build
WORKDIR /src
COPY . .
# The registry and the target folder are kept between builds; the binary is
# copied out, because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin token-agent \
    && cp target/release/token-agent /token-agent
# A named volume over a path the image lacks is created root-owned, and the
# agent could not create its database there: the image brings /data, owned
# by the user the agent runs as, and Docker copies that to a new volume.
RUN install -d -m 0700 -o 65532 -g 65532 /data

# glibc and CA certificates (upstream calls use the system's roots); no
# shell, so the health check is the binary's own sub-command.
FROM gcr.io/distroless/cc-debian13:nonroot
COPY --from=build /token-agent /token-agent
COPY --from=build --chown=65532:65532 /data /data
ENV PORT=8080 \
    DATABASE_URL=sqlite:///data/token-agent.db
VOLUME ["/data"]
EXPOSE 8080
# Numeric, so that platforms which mount volumes for the image's user
# (Fly.io) need no /etc/passwd look-up.
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/token-agent", "healthcheck"]
ENTRYPOINT ["/token-agent"]
CMD ["serve"]
