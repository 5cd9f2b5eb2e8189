#!/bin/sh
# apt-install PACKAGE...: the one way every stage of the Dockerfile installs Debian packages.
# No recommends, no documentation kept, lists removed afterwards (smaller layers).
#
# APT_OPTS (a build argument, empty by default) carries apt options a build host may need to
# reach Debian's archive, e.g. "-o Acquire::http::Proxy=http://proxy:3128"; it is given on
# the command line only and never written into the image, so images stay the same wherever
# they are built (tools/compose_images.sh passes the host's own apt settings).
set -eu
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # APT_OPTS is a list of options
apt-get ${APT_OPTS:-} -qq update
# shellcheck disable=SC2086
apt-get ${APT_OPTS:-} -qq install -y --no-install-recommends "$@" >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/*
