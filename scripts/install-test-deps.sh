#!/usr/bin/env bash
# Installs what the real-component tests need, from Debian's packages only (never a downloaded binary):
# PostgreSQL 15 server and client, its server headers, pgvector built from Debian's own source package of a
# newer suite (bookworm does not package it), the AWS CLI (backups against a local S3 API), promtool (alert
# rules), postgres_exporter (metrics), Go with lib/pq and pgx v4 (the Go services' clients) and PgBouncer: the tests pool through PgBouncer >= 1.21, built like pgvector
# from the newer suite's source package (bookworm's 1.18 cannot keep prepared statements in transaction pooling)
# into /usr/local/lib/hanzo-sql/pgbouncer, beside (not over) Debian's 1.18 package.
# Idempotent: installs only what is missing. Needs root.
#
#   scripts/install-test-deps.sh            # PG_MAJOR=15, PGVECTOR_SUITE=trixie by default
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
SUITE="${PGVECTOR_SUITE:-trixie}"
BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
EXT_DIR="/usr/share/postgresql/${PG_MAJOR}/extension"

PGBOUNCER_PREFIX=/usr/local/lib/hanzo-sql/pgbouncer
PGBOUNCER="${PGBOUNCER_PREFIX}/bin/pgbouncer"

say() { printf 'install-test-deps: %s\n' "$*" >&2; }

# True when $PGBOUNCER runs and is 1.21 or later (max_prepared_statements).
pgbouncer_ready() {
    [ -x "$PGBOUNCER" ] || return 1
    "$PGBOUNCER" --version 2>/dev/null | awk 'NR == 1 { split($2, v, "."); exit !(v[1] > 1 || (v[1] == 1 && v[2] >= 21)) }'
}

# Fetches Debian's source package $1 of the newer suite into a fresh directory under $work and prints its
# path. A temporary deb-src list from the mirror this machine already uses; /etc/apt is left untouched (apt
# reads the list through -o options).
newer_suite_source() {
    local pkg="$1" uri="" dir
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list)"
    fi
    [ -n "$uri" ] || { say "no Debian mirror found in /etc/apt to fetch the $pkg source package from"; return 1; }
    if [ ! -f "$work/sources.list" ]; then
        mkdir -p "$work/lists/partial" "$work/parts"
        chmod -R a+rwX "$work"  # apt downloads as the unprivileged _apt user
        echo "deb-src ${uri} ${SUITE} main" > "$work/sources.list"
        apt-get "${apt_src[@]}" update -qq >&2
    fi
    dir="$work/src-$pkg"
    mkdir -p "$dir" && chmod a+rwX "$dir"
    (cd "$dir" && apt-get "${apt_src[@]}" source -qq "$pkg" >/dev/null 2>&1)
    find "$dir" -mindepth 1 -maxdepth 1 -type d -name "${pkg}-*" | head -1
}

missing=()
[ -x "${BIN}/postgres" ] || missing+=("postgresql-${PG_MAJOR}")
[ -f "${EXT_DIR}/pg_trgm.control" ] || missing+=("postgresql-${PG_MAJOR}")
command -v psql >/dev/null || missing+=("postgresql-client-${PG_MAJOR}")
[ -x /usr/bin/aws ] || missing+=(awscli)
[ -x /usr/bin/promtool ] || missing+=(prometheus)
[ -x /usr/bin/prometheus-postgres-exporter ] || missing+=(prometheus-postgres-exporter)
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# The pod runner (test/harness/pod): network namespaces and a bridge, namespaces and setpriv, ext4 volumes.
command -v ip >/dev/null || missing+=(iproute2)
command -v setpriv >/dev/null && command -v nsenter >/dev/null && command -v unshare >/dev/null || missing+=(util-linux)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
# ...and the NetworkPolicies it enforces in each pod's network namespace (iptables-restore, ip6tables-restore).
command -v iptables-restore >/dev/null && command -v ip6tables-restore >/dev/null || missing+=(iptables)
command -v prometheus >/dev/null || missing+=(prometheus)
# The backup scripts are checked with shellcheck (test/db/backup.test.ts); test/harness/commands.ts lists
# every command the tests run and test/cli/installDeps.test.ts checks this script installs each one's package.
command -v shellcheck >/dev/null || missing+=(shellcheck)
# The Go services' drivers for test/clients (built offline, GO111MODULE=off, against these packages).
command -v go >/dev/null || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/lib/pq ] || missing+=(golang-github-lib-pq-dev)
[ -d /usr/share/gocode/src/github.com/jackc/pgx/v4 ] || missing+=(golang-github-jackc-pgx-v4-dev)
[ -f "${EXT_DIR}/vector.control" ] || missing+=("postgresql-server-dev-${PG_MAJOR}" dpkg-dev make gcc)
pgbouncer_ready || missing+=(dpkg-dev make gcc pkg-config libevent-dev libssl-dev libc-ares-dev)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" != 0 ]; then
    say "missing: ${missing[*]} (pgvector and PgBouncer, if missing, are built from Debian's source packages)"
    say "run this script as root (it installs them with apt-get), or install them yourself"
    exit 1
fi
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The packaged services are not wanted running: the tests start their own, on loopback ports.
    for svc in prometheus prometheus-postgres-exporter pgbouncer; do
        if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
    done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
apt_src=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::State::Lists=$work/lists")

if [ ! -f "${EXT_DIR}/vector.control" ]; then
    say "building pgvector from Debian's ${SUITE} source package"
    src="$(newer_suite_source pgvector)"
    [ -n "$src" ] || { say "apt-get source pgvector produced no source tree"; exit 1; }
    make -s -C "$src" PG_CONFIG="${BIN}/pg_config" >/dev/null
    make -s -C "$src" PG_CONFIG="${BIN}/pg_config" install >/dev/null
fi

if ! pgbouncer_ready; then
    say "building PgBouncer from Debian's ${SUITE} source package into ${PGBOUNCER_PREFIX}"
    src="$(newer_suite_source pgbouncer)"
    [ -n "$src" ] || { say "apt-get source pgbouncer produced no source tree"; exit 1; }
    # The release tarball ships configure and the man pages: no autotools, no pandoc.
    (cd "$src" && ./configure -q --prefix="$PGBOUNCER_PREFIX" --with-cares --without-systemd --without-pam >/dev/null \
        && make -s -j"$(nproc)" >/dev/null 2>&1 && make -s install >/dev/null)
    pgbouncer_ready || { say "the PgBouncer build did not produce a working ${PGBOUNCER} >= 1.21"; exit 1; }
fi

say "ready: $("${BIN}/postgres" --version), pgvector $(awk -F"'" '/default_version/ { print $2 }' "${EXT_DIR}/vector.control"), $(/usr/bin/aws --version 2>&1 | cut -d' ' -f1), promtool $(/usr/bin/promtool --version 2>&1 | awk 'NR==1 { print $3 }'), postgres_exporter $(/usr/bin/prometheus-postgres-exporter --version 2>&1 | awk 'NR==1 { print $3 }'), $("$PGBOUNCER" --version 2>&1 | head -1)"
