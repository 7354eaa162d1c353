#!/bin/bash
# shellcheck shell=bash
# The readiness probe of a server pod in a stack with standbys (docs/standbys.md): ready only when the server
# answers and serves as its role label says: `primary` and not in recovery, or `standby` and in recovery. The
# Services select by that label (`postgres` the primary, `postgres-ro` the standbys) and list ready pods only, so
# a pod whose label and server disagree (a fenced old primary, a rejoined one its StatefulSet recreated with the
# template's `primary`, a standby promoted before its relabel) is in neither Service.
# The label comes from the downward API's labels file, which the kubelet rewrites when the pod is relabelled.
# Environment: POSTGRES_USER (the administrator; the local socket is trusted), PODINFO_LABELS (the labels file).
set -euo pipefail
: "${POSTGRES_USER:?}" "${PODINFO_LABELS:?}"
pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d postgres
role=$(sed -n 's/^hanzo\.ai\/role="\(.*\)"$/\1/p' "$PODINFO_LABELS")
# The administrator's session resolves names in pg_catalog only, as every privileged session's (render/privilegedSession.ts).
recovery=$(PGOPTIONS="-c search_path=pg_catalog,pg_temp" psql -XAtq -U "$POSTGRES_USER" -d postgres -c 'SELECT pg_catalog.pg_is_in_recovery()')
case "$role:$recovery" in
primary:f | standby:t) exit 0 ;;
*)
    echo "labelled hanzo.ai/role=${role:-(none)} but pg_is_in_recovery() = $recovery: not ready" >&2
    exit 1
    ;;
esac
