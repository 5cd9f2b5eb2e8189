# syntax=docker/dockerfile:1
# The events service image: events-fcgi (run under spawn-fcgi), migrate, and the migrations.
# Used by docker-compose.yml for the "migrate" and "app" services.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc make pkg-config libc6-dev libfcgi-dev libjson-c-dev libpq-dev libroaring-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what "make all" needs: a host build/ or var/ must not leak into the image.
COPY Makefile ./
COPY fcgi/ fcgi/
COPY tools/ tools/
RUN make -j"$(nproc)" BUILD=/src/build all \
 && mkdir -p /out/bin \
 && find /src/build -maxdepth 1 -type f -perm -u+x -exec install -m 0755 {} /out/bin/ \;

FROM debian:12-slim AS runtime
# libfcgi0ldbl is Debian 12's runtime package of libfcgi (libfcgi.so.0).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libfcgi0ldbl libpq5 libjson-c5 libroaring0 tzdata spawn-fcgi ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /app --shell /usr/sbin/nologin events
COPY --from=build /out/bin/ /usr/local/bin/
COPY migrations/ /app/migrations/
WORKDIR /app
USER events
# WORKERS and the other settings: events-fcgi's own defaults (events-fcgi --settings)
EXPOSE 9000
# spawn-fcgi binds the socket and execs events-fcgi, the supervisor of the worker pool:
# SIGTERM (docker stop) drains and exits, SIGHUP replaces the workers.
STOPSIGNAL SIGTERM
CMD ["spawn-fcgi", "-n", "-p", "9000", "-a", "0.0.0.0", "--", "/usr/local/bin/events-fcgi"]
