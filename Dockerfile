# syntax=docker/dockerfile:1
# Every image docker-compose.yml runs, built from Debian 12 and its own packages only:
#   app      events-fcgi under spawn-fcgi, migrate, import_events (services app, migrate, loader)
#   nginx    Debian's nginx-light with the project's one configuration and static pages
#   db       Debian's PostgreSQL 15 with the project's roles (conf/compose/db-entry.sh)
#   adminer  Debian's Adminer served by PHP's own server
# Each runs as an unprivileged account and has a healthcheck. Build one with
#   docker build --target app -t events-app .        (compose builds all four itself)
# APT_OPTS: apt options a build host needs to reach Debian's archive (a proxy, say); used on
# apt-get's command line only, never stored in an image (conf/compose/apt-install.sh).

FROM debian:bookworm-slim AS base
ARG APT_OPTS=""
COPY conf/compose/apt-install.sh /usr/local/sbin/apt-install

# --- app ----------------------------------------------------------------------------------
FROM base AS build
ARG APT_OPTS
RUN apt-install gcc make pkg-config libc6-dev libfcgi-dev libjson-c-dev libpq-dev libroaring-dev
WORKDIR /src
# Only what "make all" needs: a host build/ or var/ must not leak into the image.
COPY Makefile ./
COPY fcgi/ fcgi/
COPY tools/*.c tools/
RUN make -j"$(nproc)" BUILD=/src/build all \
 && mkdir -p /out/bin \
 && find /src/build -maxdepth 1 -type f -perm -u+x -exec install -m 0755 {} /out/bin/ \;

FROM base AS app
ARG APT_OPTS
# libfcgi0ldbl: libfcgi's runtime library; libfcgi-bin: cgi-fcgi, for the healthcheck.
RUN apt-install libfcgi0ldbl libfcgi-bin libpq5 libjson-c5 libroaring0 tzdata spawn-fcgi \
 && useradd --system --no-create-home --home-dir /app --shell /usr/sbin/nologin events
COPY --from=build /out/bin/ /usr/local/bin/
COPY migrations/ /app/migrations/
COPY conf/compose/app-entry.sh /usr/local/bin/app-entry
WORKDIR /app
# Not root: the supervisor and its workers are one unprivileged account here (privs_drop
# does nothing when not started as root); the container is the isolation ADR 2 gets from
# POOL_USER on a shared host.
USER events
EXPOSE 9000
# The worker pool itself answers /healthz over FastCGI (200 only when the database answers).
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/app-entry", "health"]
# spawn-fcgi binds the socket and execs events-fcgi, the supervisor of the worker pool:
# SIGTERM (docker stop) drains and exits, SIGHUP replaces the workers.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/app-entry"]
CMD ["serve"]

# --- nginx --------------------------------------------------------------------------------
FROM base AS nginx
ARG APT_OPTS
RUN apt-install nginx-light \
 && rm -f /etc/nginx/sites-enabled/default \
 && install -d -o www-data -g www-data /run/events-nginx /var/cache/events-nginx
COPY conf/nginx.conf.in /etc/events/nginx.conf.in
COPY tools/render_nginx.sh /etc/events/render_nginx.sh
COPY conf/compose/nginx-entry.sh /usr/local/bin/nginx-entry
# /docs and /dashboard: the npm packages come from "make web" (npm ci) before the build.
COPY conf/openapi.yaml /srv/www/openapi.yaml
COPY web/ /srv/www/web/
COPY node_modules/swagger-ui-dist/ /srv/www/swagger-ui/
COPY node_modules/uplot/dist/ /srv/www/uplot/
# Not root: port 8000 needs no privilege, and nginx writes only its pid and temp files.
ENV NGX_USER="" NGX_PID_FILE=/run/events-nginx/nginx.pid NGX_ERROR_LOG=stderr \
    NGX_ACCESS_LOG=/dev/stdout NGX_TEMP_DIR=/var/cache/events-nginx NGX_UPSTREAM=app:9000 \
    NGX_LISTEN=8000 NGX_WWW_DIR=/srv/www
USER www-data
EXPOSE 8000
# A page nginx serves itself: nginx's health, not the pool's (the app has its own check).
HEALTHCHECK --interval=5s --timeout=3s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'HEAD /openapi.yaml HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
STOPSIGNAL SIGTERM
CMD ["/usr/local/bin/nginx-entry"]

# --- PostgreSQL ---------------------------------------------------------------------------
FROM base AS db
ARG APT_OPTS
# No "main" cluster at install time: the entrypoint makes one in the volume.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-install postgresql-15 \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
COPY conf/compose/db-entry.sh /usr/local/bin/db-entry
COPY conf/compose/db-roles.sh /usr/local/share/events/db-roles.sh
# POSTGRES_USER/POSTGRES_DB: the owner and database db-roles.sh connects to
ENV PGDATA=/var/lib/postgresql/data/pgdata POSTGRES_USER=events_owner POSTGRES_DB=events
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# Over TCP: while the entrypoint prepares a new cluster the server listens on its socket only,
# which must not count as ready.
HEALTHCHECK --interval=3s --timeout=3s --start-period=10s --retries=5 \
  CMD ["pg_isready", "-q", "-h", "127.0.0.1", "-U", "events_owner", "-d", "events"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/db-entry"]

# --- Adminer ------------------------------------------------------------------------------
FROM base AS adminer
ARG APT_OPTS
# php-cgi satisfies adminer's "a PHP SAPI" dependency without Apache; php-cli serves.
RUN apt-install adminer php-cli php-cgi php-pgsql \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin adminer
WORKDIR /usr/share/adminer
USER adminer
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=3 \
  CMD ["php", "-r", "exit(@file_get_contents('http://127.0.0.1:8080/') === false ? 1 : 0);"]
# PHP's server ends on SIGINT (it ignores SIGTERM).
STOPSIGNAL SIGINT
# Every path is adminer.php (it serves its own CSS and JS); PHP may read Adminer and /tmp only.
CMD ["php", "-d", "open_basedir=/usr/share/adminer:/tmp", "-d", "expose_php=0", \
     "-S", "0.0.0.0:8080", "/usr/share/adminer/adminer.php"]
