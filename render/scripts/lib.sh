# shellcheck shell=bash
# Shared by the backup scripts (sourced, never run). The stack's own values (databases, their roles,
# retention and required tables) are in stack.sh, rendered by hanzo-sql next to these files.

log() { printf '%s\n' "$*" >&2; }

# Every PostgreSQL session these scripts open (psql, pg_dump, pg_restore) resolves unqualified names in
# pg_catalog only: a service owns its database and decides what they mean there (render/privilegedSession.ts).
export PGOPTIONS="-c search_path=pg_catalog,pg_temp"

# A run's key prefix: UTC time for people, plus 8 random hex digits so two runs in one second never share
# one. Ordering never uses it: "latest" is decided by the S3 server's own LastModified times.
run_id() {
    printf '%s-%s' "$(date -u +%Y-%m-%dT%H-%M-%SZ)" "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
}

require_s3() {
    : "${S3_ENDPOINT:?S3_ENDPOINT must be set}" "${S3_BUCKET:?S3_BUCKET must be set}" "${S3_PREFIX:?S3_PREFIX must be set}"
}

aws_s3() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }

# Every object under $S3_PREFIX/ as "key<TAB>seconds since the epoch of its LastModified", every page.
# The query only projects fields, so applying it page by page (as the CLI does with --output text) loses
# nothing; sorting and choosing happen here, over the whole listing.
list_objects() {
    local key modified
    aws_s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" \
        --query 'Contents[].[Key, LastModified]' --output text |
        while IFS=$'\t' read -r key modified; do
            if [ -z "$key" ] || [ "$key" = None ]; then continue; fi
            printf '%s\t%s\n' "$key" "$(date -u -d "$modified" +%s)"
        done
}

# The run id of the newest complete backup (a manifest.json), by the server's times, from a listing on stdin.
newest_complete() {
    awk -F'\t' -v p="$S3_PREFIX/" '
        index($1, p) == 1 && $1 ~ /\/manifest\.json$/ {
            id = substr($1, length(p) + 1); sub(/\/manifest\.json$/, "", id)
            if ($2 > best || ($2 == best && id > bestid)) { best = $2; bestid = id }
        }
        END { print bestid }'
}

# manifest_dumps FILE: "database<TAB>file<TAB>sha256" for every dump a manifest lists as uploaded. The
# manifest is JSON written by upload.sh one database per line; a line of another shape fails the read.
manifest_dumps() {
    local line n=0
    while IFS= read -r line; do
        n=$((n + 1))
        case "$line" in
        '    {"database":'*) ;;
        *) continue ;;
        esac
        if [[ "$line" =~ ^\ \ \ \ \{\"database\":\"([a-z][a-z0-9_]*)\",\"status\":\"([a-z-]+)\"(,\"file\":\"([a-z0-9_]+\.dump)\",\"size\":[0-9]+,\"sha256\":\"([0-9a-f]{64})\")? ]]; then
            [ "${BASH_REMATCH[2]}" = ok ] || continue
            [ -n "${BASH_REMATCH[4]}" ] || { log "manifest line $n: database ${BASH_REMATCH[1]} is ok but lists no file"; return 1; }
            printf '%s\t%s\t%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[5]}"
        else
            log "manifest line $n is not understood: $line"
            return 1
        fi
    done < "$1"
}
