#!/usr/bin/env bash
# Citus (distributed PostgreSQL) for the PostgreSQL the stack runs: an installed Citus is used
# as it is; otherwise it is built from its source tarball into build/citus/ (kept as a cache:
# a later run only re-installs) and installed into PostgreSQL (root).
#
#   tools/citus.sh ensure    Citus present for PG_BIN's PostgreSQL (build + install if needed)
#   tools/citus.sh check     exit 0 when Citus is installed, 1 when not
#
# Settings (environment):
#   CITUS_TARBALL  <repo>/../shared/vendor/citus-12.1.12.tar.gz   the upstream source (Citus
#                  12.1 builds against PostgreSQL 14-16; not in Debian 12)
#   PG_BIN         newest /usr/lib/postgresql/*/bin               the PostgreSQL to extend
#   CITUS_BUILD    <repo>/build/citus                             the build cache
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB_PROG=citus
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

# beside the checkout; else the workplace's shared folder (a clone made somewhere else, as CI's)
if [ -z "${CITUS_TARBALL:-}" ]; then
	for CITUS_TARBALL in "$ROOT/../shared/vendor/citus-12.1.12.tar.gz" \
		/work/shared/vendor/citus-12.1.12.tar.gz; do
		[ ! -f "$CITUS_TARBALL" ] || break
	done
fi
CITUS_BUILD=${CITUS_BUILD:-$ROOT/build/citus}

pg_config_path() {
	local d=${PG_BIN:-}
	[ -n "$d" ] || d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$d" ] || die "PostgreSQL server binaries not found (run: tools/deps.sh run)"
	printf '%s/pg_config' "$d"
}

# installed_for PG_CONFIG: citus.so and its control file are where that PostgreSQL looks.
installed_for() {
	local pgc=$1 lib share
	[ -x "$pgc" ] || return 1
	lib=$("$pgc" --pkglibdir) && share=$("$pgc" --sharedir) || return 1
	[ -f "$lib/citus.so" ] && [ -f "$share/extension/citus.control" ]
}

# The server's own pg_config comes with postgresql-server-dev-N; a bare server has none, so
# without it the library directory is guessed from the Debian layout.
pg_major() { basename "$(dirname "$(dirname "$(pg_config_path)")")"; }

installed() {
	local pgc v
	pgc=$(pg_config_path)
	if [ -x "$pgc" ]; then
		installed_for "$pgc"
	else
		v=$(pg_major)
		[ -f "/usr/lib/postgresql/$v/lib/citus.so" ] && [ -f "/usr/share/postgresql/$v/extension/citus.control" ]
	fi
}

build_deps() {
	"$ROOT/tools/deps.sh" citus || die "the packages to build Citus are missing"
}

build() {
	local pgc src name log
	[ -f "$CITUS_TARBALL" ] || die "no Citus installed and no source at $CITUS_TARBALL (set CITUS_TARBALL)"
	is_root || die "Citus must be installed into PostgreSQL: run as root (tools/citus.sh ensure)"
	build_deps
	pgc=$(pg_config_path)
	[ -x "$pgc" ] || die "$pgc missing after installing the build packages"
	name=$(basename "$CITUS_TARBALL" .tar.gz)
	src=$CITUS_BUILD/$name
	log=$CITUS_BUILD/build.log
	# with_llvm=no: no bitcode of Citus for the JIT to inline (JIT still works), half the build time
	mkdir -p "$CITUS_BUILD"
	# a tree built for another PostgreSQL (or half built) starts again
	if [ ! -f "$src/.built-$(pg_major)" ]; then
		rm -rf -- "$src"
		say "building Citus from $CITUS_TARBALL (about 2.5 min on one core; log $log)"
		tar -xzf "$CITUS_TARBALL" -C "$CITUS_BUILD" || die "cannot unpack $CITUS_TARBALL"
		[ -d "$src" ] || die "$CITUS_TARBALL does not unpack to $name/"
		(cd "$src" && ./configure PG_CONFIG="$pgc" --without-libcurl &&
			make -j"$(nproc)" with_llvm=no) >"$log" 2>&1 || {
			tail_log "$log" 30
			die "building Citus failed"
		}
		touch "$src/.built-$(pg_major)"
	fi
	(cd "$src" && make install with_llvm=no) >>"$log" 2>&1 || {
		tail_log "$log" 30
		die "installing Citus failed"
	}
	say "Citus installed into PostgreSQL $(pg_major)"
}

case ${1:-} in
ensure) installed || build ;;
check) installed ;;
*) help_or_refuse "${1:-}" ;;
esac
