#!/usr/bin/env bash
# Check for the system packages the project needs and install the missing ones (Debian 12).
#
#   tools/deps.sh run    build and run the stack (make, make run)
#   tools/deps.sh test   also run every test (make test; includes "compose" and "citus")
#   tools/deps.sh adminer   also Adminer + php-fpm (make adminer)
#   tools/deps.sh citus  what building Citus from source needs (tools/citus.sh; make run NODES=3)
#   tools/deps.sh ha     also pg_auto_failover (HA=1 make run, make ha-test; make test)
#   tools/deps.sh compose   docker-compose.yml run for real with podman (make compose-smoke;
#                           "test" includes it)
#
# Quiet when everything is present. As root: apt-get update + install of what is missing only.
# Otherwise: prints the sudo command to run and exits 1.
# Exit status: 0 all present (or installed), 1 missing and not root, or apt-get failed, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=deps
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

# One requirement per line: "package probe". The package is what gets installed; the probe
# (cmd:NAME, file:PATH, glob:PATTERN or -) lets something installed another way count too,
# e.g. any nginx flavour, or PostgreSQL from the PGDG repository.
REQ_RUN='
gcc             cmd:gcc
make            cmd:make
pkg-config      cmd:pkg-config
libc6-dev       file:/usr/include/stdio.h
postgresql      glob:/usr/lib/postgresql/*/bin/initdb
nginx-light     cmd:nginx
spawn-fcgi      cmd:spawn-fcgi
libfcgi-dev     file:/usr/include/fcgiapp.h
libjson-c-dev   file:/usr/include/json-c/json.h
libpq-dev       file:/usr/include/postgresql/libpq-fe.h
libroaring-dev  file:/usr/include/roaring/roaring.h
tzdata          file:/usr/share/zoneinfo/tzdata.zi
curl            cmd:curl
procps          cmd:pgrep
nodejs          cmd:node
npm             cmd:npm
'
# "make adminer" only: Debian's Adminer served by php-fpm behind nginx (not needed by tests).
REQ_ADMINER='
adminer         file:/usr/share/adminer/adminer.php
php-fpm         glob:/usr/sbin/php-fpm*
php-pgsql       glob:/etc/php/*/mods-available/pgsql.ini
'
# Building Citus from its tarball (tools/citus.sh) against Debian 12's PostgreSQL 15. Installing
# the server headers also upgrades the server packages to the same minor version.
REQ_CITUS='
postgresql-server-dev-15 file:/usr/include/postgresql/15/server/postgres.h
liblz4-dev               file:/usr/include/lz4.h
libzstd-dev              file:/usr/include/zstd.h
libkrb5-dev              file:/usr/include/krb5.h
libssl-dev               file:/usr/include/openssl/ssl.h
'
# HA=1: pg_auto_failover 2.0 from Debian 12 (the monitor's and the nodes' extension for
# PostgreSQL 15, and pg_autoctl).
REQ_HA='
postgresql-15-auto-failover  glob:/usr/lib/postgresql/*/lib/pgautofailover.so
pg-auto-failover-cli         cmd:pg_autoctl
'
# make compose-smoke: podman with podman-compose, runc (crun 1.8 refuses hosts with hybrid
# cgroups), the CNI dnsname plugin (service names resolve between containers), iptables (port
# publishing), debootstrap (the Debian base image, no registry needed), docker-compose (resolves
# the compose file), python3 (the stats check). Rootless podman would also need uidmap,
# slirp4netns and fuse-overlayfs; make test runs as root.
REQ_COMPOSE='
podman          cmd:podman
podman-compose  cmd:podman-compose
runc            cmd:runc
golang-github-containernetworking-plugin-dnsname  file:/usr/lib/cni/dnsname
iptables        cmd:iptables
debootstrap     cmd:debootstrap
docker-compose  cmd:docker-compose
python3         cmd:python3
'
REQ_TEST='
libcriterion-dev     file:/usr/include/criterion/criterion.h
libcurl4-openssl-dev glob:/usr/include/*/curl/curl.h
docker-compose       cmd:docker-compose
chromium             cmd:chromium
chromium-driver      cmd:chromedriver
prometheus           cmd:promtool
clang                cmd:clang
libclang-rt-14-dev   glob:/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a
valgrind             cmd:valgrind
wrk                  cmd:wrk
'

installed() { # dpkg says PACKAGE is installed
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

probe() {
	local kind=${1%%:*} what=${1#*:} f
	case $kind in
	cmd) PATH=$PATH:/usr/sbin:/sbin command -v "$what" >/dev/null 2>&1 ;;
	file) [ -e "$what" ] ;;
	glob)
		for f in $what; do [ -e "$f" ] && return 0; done
		return 1
		;;
	*) return 1 ;;
	esac
}

case ${1:-} in
run) reqs=$REQ_RUN ;;
test) reqs=$REQ_RUN$REQ_TEST$REQ_COMPOSE$REQ_CITUS ;;
compose) reqs=$REQ_RUN$REQ_COMPOSE ;;
adminer) reqs=$REQ_RUN$REQ_ADMINER ;;
citus) reqs=$REQ_RUN$REQ_CITUS ;;
ha) reqs=$REQ_RUN$REQ_HA ;;
*) help_or_refuse "${1:-}" ;;
esac

missing=()
while read -r pkg check; do
	[ -n "$pkg" ] || continue
	if probe "$check" || { command -v dpkg-query >/dev/null && installed "$pkg"; }; then
		continue
	fi
	missing+=("$pkg")
done <<<"$reqs"

((${#missing[@]} == 0)) && exit 0

if ! command -v apt-get >/dev/null; then
	die "missing: ${missing[*]} (no apt-get here: install the equivalents by hand)"
fi
if ! is_root; then
	say "missing packages: ${missing[*]}"
	echo "run:  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

say "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || die "apt-get update failed"
apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null ||
	die "apt-get install ${missing[*]} failed"
say "installed: ${missing[*]}"
