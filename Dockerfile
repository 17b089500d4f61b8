# Multi-stage build of the workspace binaries: sample-build-server (the four
# sample services, `serve --service NAME`) and controlcenter (TUI and CLI).
#
#   docker build -t isoqube .
#   docker compose up -d          # see docker-compose.yml

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so editing the sources does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY crates/isoqube/Cargo.toml crates/isoqube/Cargo.toml
COPY crates/isoqube-macros/Cargo.toml crates/isoqube-macros/Cargo.toml
COPY crates/controlcenter/Cargo.toml crates/controlcenter/Cargo.toml
COPY crates/sample-build-server/Cargo.toml crates/sample-build-server/Cargo.toml
RUN for c in isoqube controlcenter sample-build-server; do \
        mkdir -p crates/$c/src && echo 'fn main() {}' > crates/$c/src/main.rs && touch crates/$c/src/lib.rs; \
    done \
    && mkdir -p crates/isoqube-macros/src && echo 'extern crate proc_macro;' > crates/isoqube-macros/src/lib.rs \
    && mkdir -p crates/isoqube/benches && echo 'fn main() {}' > crates/isoqube/benches/chain.rs \
    && cargo fetch --locked
COPY crates crates
RUN cargo build --release --locked -p sample-build-server -p controlcenter \
    && cp target/release/sample-build-server target/release/controlcenter /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/isoqube isoqube
COPY --from=build /usr/local/bin/sample-build-server /usr/local/bin/controlcenter /usr/local/bin/
USER isoqube
WORKDIR /var/lib/isoqube
ENV ISOQUBE_HEALTH_PORT=8080
EXPOSE 8080
CMD ["sample-build-server", "serve"]
