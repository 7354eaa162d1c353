#!/usr/bin/env bash
# Installs what the real-component tests need, from Debian's packages only (never a downloaded binary):
# PostgreSQL 15 server and client, its server headers, pgvector built from Debian's own source package of a
# newer suite (bookworm does not package it), the AWS CLI (backups against a local S3 API), promtool (alert
# rules), postgres_exporter (metrics) and PgBouncer (pooling).
# Idempotent: installs only what is missing. Needs root.
#
#   scripts/install-test-deps.sh            # PG_MAJOR=15, PGVECTOR_SUITE=trixie by default
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
SUITE="${PGVECTOR_SUITE:-trixie}"
BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
EXT_DIR="/usr/share/postgresql/${PG_MAJOR}/extension"

say() { printf 'install-test-deps: %s\n' "$*" >&2; }

missing=()
[ -x "${BIN}/postgres" ] || missing+=("postgresql-${PG_MAJOR}")
[ -f "${EXT_DIR}/pg_trgm.control" ] || missing+=("postgresql-${PG_MAJOR}")
command -v psql >/dev/null || missing+=("postgresql-client-${PG_MAJOR}")
[ -x /usr/bin/aws ] || missing+=(awscli)
[ -x /usr/bin/promtool ] || missing+=(prometheus)
[ -x /usr/bin/prometheus-postgres-exporter ] || missing+=(prometheus-postgres-exporter)
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# The pod runner (tools/pod): network namespaces and a bridge, namespaces and setpriv, ext4 volumes.
command -v ip >/dev/null || missing+=(iproute2)
command -v setpriv >/dev/null && command -v nsenter >/dev/null && command -v unshare >/dev/null || missing+=(util-linux)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v prometheus >/dev/null || missing+=(prometheus)
[ -f "${EXT_DIR}/vector.control" ] || missing+=("postgresql-server-dev-${PG_MAJOR}" dpkg-dev make gcc)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" != 0 ]; then
    say "missing: ${missing[*]} (pgvector, if missing, is built from Debian's source package)"
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

if [ ! -f "${EXT_DIR}/vector.control" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # A temporary deb-src list for the newer suite, from the mirror this machine already uses; /etc/apt is
    # left untouched (apt reads the list through -o options).
    uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list)"
    fi
    [ -n "$uri" ] || { say "no Debian mirror found in /etc/apt to fetch the pgvector source package from"; exit 1; }
    mkdir -p "$work/lists/partial" "$work/parts"
    chmod -R a+rwX "$work"  # apt downloads as the unprivileged _apt user
    echo "deb-src ${uri} ${SUITE} main" > "$work/sources.list"
    apt_src=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::State::Lists=$work/lists")
    say "building pgvector from Debian's ${SUITE} source package"
    apt-get "${apt_src[@]}" update -qq
    (cd "$work" && apt-get "${apt_src[@]}" source -qq pgvector >/dev/null 2>&1)
    src="$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -1)"
    [ -n "$src" ] || { say "apt-get source pgvector produced no source tree"; exit 1; }
    make -s -C "$src" PG_CONFIG="${BIN}/pg_config" >/dev/null
    make -s -C "$src" PG_CONFIG="${BIN}/pg_config" install >/dev/null
fi

say "ready: $("${BIN}/postgres" --version), pgvector $(awk -F"'" '/default_version/ { print $2 }' "${EXT_DIR}/vector.control"), $(/usr/bin/aws --version 2>&1 | cut -d' ' -f1), promtool $(/usr/bin/promtool --version 2>&1 | awk 'NR==1 { print $3 }'), postgres_exporter $(/usr/bin/prometheus-postgres-exporter --version 2>&1 | awk 'NR==1 { print $3 }'), $(/usr/sbin/pgbouncer --version 2>&1 | head -1)"
