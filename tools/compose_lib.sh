# shellcheck shell=bash
# The container engine for tools/compose_smoke.sh (sourced after tools/lib.sh, with ROOT set):
# which engine, podman's settings, the Debian base image, and the four images of the
# Dockerfile.
#
# podman (Debian 12's 4.3) is used with settings of its own under build/compose/, so that a
# test run touches neither the host's podman configuration nor its image store:
#   containers.conf  default_ulimits = [] (without it every container fails with "error
#                    setting rlimit type 6/7"), and runc as the OCI runtime (crun 1.8 refuses
#                    hosts with cgroup v1 controllers plus a cgroup v2 mount: "cgroups in
#                    hybrid mode not supported"; runc runs on both kinds of host)
#   storage.conf     images and containers in build/compose/storage: the layer cache that makes
#                    a second run fast ("make compose-clean" drops it)
# debian:bookworm-slim, which users pull from their registry, is made here from Debian's
# archive instead (no registry is reachable from CI): debootstrap --variant=minbase, the root
# filesystem cached as build/compose/bookworm-minbase.tar, then podman import.

COMPOSE_DIR=$ROOT/build/compose
COMPOSE_TARGETS=(app db nginx adminer)
BASE_IMAGE=debian:bookworm-slim

# compose_engine: sets ENGINE to docker when a docker engine answers, else podman.
compose_engine() {
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
		ENGINE=docker
	elif command -v podman >/dev/null && command -v podman-compose >/dev/null; then
		ENGINE=podman
		podman_settings
	else
		die "no container engine: neither a running docker nor podman + podman-compose (run: tools/deps.sh compose)"
	fi
}

podman_settings() {
	mkdir -p "$COMPOSE_DIR"
	{
		printf '# written by tools/compose_lib.sh\n[containers]\ndefault_ulimits = []\n'
		! command -v runc >/dev/null || printf '\n[engine]\nruntime = "runc"\n'
	} >"$COMPOSE_DIR/containers.conf"
	printf '# written by tools/compose_lib.sh\n[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
		"$COMPOSE_DIR/storage" "$COMPOSE_DIR/run" >"$COMPOSE_DIR/storage.conf"
	export CONTAINERS_CONF=$COMPOSE_DIR/containers.conf
	export CONTAINERS_STORAGE_CONF=$COMPOSE_DIR/storage.conf
	# HEALTHCHECK is part of the docker image format only (OCI images drop it)
	export BUILDAH_FORMAT=docker
}

# base_image: debian:bookworm-slim in podman's store, from the cached root filesystem (made
# with debootstrap when missing). Docker pulls it from its registry instead.
base_image() {
	local tarball=$COMPOSE_DIR/bookworm-minbase.tar tmp
	[ "$ENGINE" = podman ] || return 0
	podman image exists "$BASE_IMAGE" && return 0
	if [ ! -s "$tarball" ]; then
		command -v debootstrap >/dev/null || die "debootstrap is missing (run: tools/deps.sh compose)"
		tmp=$COMPOSE_DIR/rootfs.tmp
		rm -rf "$tmp" "$tarball.tmp"
		say "debootstrap --variant=minbase bookworm (once; cached as ${tarball#"$ROOT"/})"
		debootstrap --variant=minbase bookworm "$tmp" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
			>"$COMPOSE_DIR/debootstrap.log" 2>&1 || {
			tail -n 20 "$COMPOSE_DIR/debootstrap.log" >&2
			die "debootstrap failed (log: ${COMPOSE_DIR#"$ROOT"/}/debootstrap.log)"
		}
		# what an image needs no copy of: the downloaded packages and package lists
		rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
		tar -C "$tmp" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
		rm -rf "$tmp"
	fi
	podman import -q "$tarball" "$BASE_IMAGE" >/dev/null || die "podman import of $tarball failed"
}

# host_apt_opts: the proxies this host's apt uses, as apt-get options for the build only.
host_apt_opts() {
	command -v apt-config >/dev/null || return 0
	apt-config dump 2>/dev/null |
		sed -n 's/^\(Acquire::https\{0,1\}::Proxy\) "\([^"]\{1,\}\)";$/-o \1=\2/p' | tr '\n' ' '
}

# stage_context: the build context, i.e. the paths .dockerignore lets in ("!PATH" lines), copied
# to a directory of their own. buildah 1.28 walks the whole context for every COPY, into
# node_modules/ and build/ (this store) too: ~5 s per COPY here, minutes per build; the copy
# takes about a second.
stage_context() {
	local ctx=$COMPOSE_DIR/context
	local -a pats
	rm -rf "$ctx" && mkdir -p "$ctx"
	mapfile -t pats < <(sed -n 's|^!\(.*[^/]\)/\{0,1\}$|\1|p' "$ROOT/.dockerignore")
	# shellcheck disable=SC2068  # the patterns are globs to expand (tools/*.c), in ROOT
	(cd "$ROOT" && cp -a --parents Dockerfile .dockerignore ${pats[@]} "$ctx/") ||
		die "cannot copy the build context to $ctx"
	printf '%s' "$ctx"
}

# build_images TAG: the Dockerfile's four targets as events-analytics-TARGET:TAG, built side by
# side (their common stage is built once and cached; most of the time is apt and gcc).
build_images() {
	local tag=$1 t rc=0 opts ctx
	local -A pids=()
	local -a args=()
	opts=$(host_apt_opts)
	[ -z "$opts" ] || args+=(--build-arg "APT_OPTS=$opts")
	ctx=$(stage_context)
	for t in "${COMPOSE_TARGETS[@]}"; do
		"$ENGINE" build -q --target "$t" -t "events-analytics-$t:$tag" "${args[@]}" "$ctx" \
			>"$COMPOSE_DIR/build-$t.log" 2>&1 &
		pids[$t]=$!
	done
	for t in "${COMPOSE_TARGETS[@]}"; do
		wait "${pids[$t]}" && continue
		rc=1
		tail -n 20 "$COMPOSE_DIR/build-$t.log" >&2
		say "building target $t failed (log: ${COMPOSE_DIR#"$ROOT"/}/build-$t.log)"
	done
	return $rc
}

# compose_clean: drops what compose_smoke.sh keeps between runs (make compose-clean): this
# store (the layer cache) and the Debian root filesystem; the next run starts cold. The host's
# own podman store and networks are not touched.
compose_clean() {
	[ -d "$COMPOSE_DIR" ] || return 0
	if [ -d "$COMPOSE_DIR/storage" ] && command -v podman >/dev/null; then
		podman_settings
		# a crashed run's containers, so that no layer stays mounted; the rest is files
		podman rm -a -f >/dev/null
	fi
	rm -rf "$COMPOSE_DIR"
	say "removed ${COMPOSE_DIR#"$ROOT"/}"
}
