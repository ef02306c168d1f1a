# token-agent: a small image with just the binary.
#   docker build -t token-agent .
#   docker run -p 8080:8080 -e ALLOWED_DOMAINS=example.com -v token-agent-data:/data token-agent
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin token-agent

# glibc and CA certificates (upstream calls use the system's roots), no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/token-agent /token-agent
ENV PORT=8080 \
    DATABASE_URL=sqlite:///data/token-agent.db
VOLUME ["/data"]
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/token-agent"]
CMD ["serve"]
