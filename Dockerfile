# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian with a non-root user.
# The image is for running ClinicGate against Cliniko: it is built without the default
# `cliniko-sandbox` feature, so it has no `serve --demo` and no `cliniko-sandbox` command (both
# are for evaluation and tests; `cargo run --release -- serve --demo` runs the demo from source).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release -p clinicgate-api --no-default-features \
 && cp target/release/clinicgate /usr/local/bin/clinicgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/clinicgate --create-home clinicgate
COPY --from=build /usr/local/bin/clinicgate /usr/local/bin/clinicgate
USER clinicgate
WORKDIR /var/lib/clinicgate
ENV CLINICGATE_BIND=0.0.0.0:8080 \
    CLINICGATE_DATA_DIR=/var/lib/clinicgate/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["clinicgate", "healthcheck"]
ENTRYPOINT ["clinicgate"]
CMD ["serve"]
