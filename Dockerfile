# Switchboard in a container: build with the official Swift image, run on its slim sibling.
#
#   docker build -t switchboard .
#   docker run --rm -p 8000:8000 switchboard serve --listen tcp:8000
#   docker compose up          # with PostgreSQL, see docker-compose.yml
#
# SWIFT_VERSION picks the official swift image (needs Swift 6.2 or newer: swift-tools-version 6.2).
ARG SWIFT_VERSION=6.2

# ---- build ----------------------------------------------------------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libsqlite3-dev libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so editing sources does not refetch them.
COPY Package.* ./
RUN swift package resolve
COPY . .
RUN swift build -c release --product switchboard \
    && install -D "$(swift build -c release --show-bin-path)/switchboard" /out/switchboard

# ---- run ------------------------------------------------------------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libsqlite3-0 libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/switchboard --shell /usr/sbin/nologin switchboard
COPY --from=build /out/switchboard /usr/local/bin/switchboard
USER switchboard
# The default sqlite:switchboard.sqlite lands here.
WORKDIR /var/lib/switchboard
EXPOSE 8000
# --web and --metrics, when given (docker-compose.yml: tcp:8080 and tcp:9100)
EXPOSE 8080 9100
ENTRYPOINT ["switchboard"]
CMD ["serve", "--listen", "tcp:8000"]
