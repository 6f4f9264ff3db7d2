# The wavegate binary on a slim Debian. Used by docker-compose.yml.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wavegate --bin wavegate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wavegate /usr/local/bin/wavegate
RUN useradd --system --home /var/lib/wavegate wavegate && mkdir -p /var/lib/wavegate && chown wavegate /var/lib/wavegate
USER wavegate
EXPOSE 8080
ENTRYPOINT ["wavegate"]
CMD ["serve"]
