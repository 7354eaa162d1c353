#!/usr/bin/env bash
# fetch.sh [latest|<run>] DIR [database...]: downloads a backup and verifies every dump its manifest lists against its
# checksum. "latest" is the newest complete backup (manifest.json) by the S3 server's times, over every
# page of the listing; a named run may also be a partial one (manifest.partial.json: its good dumps).
# Fails when a dump the manifest lists (of the databases named, if any) is missing or differs. Writes DIR/timestamp (the run) last.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
require_s3
want="${1:-latest}"
dir="${2:?usage: fetch.sh [latest|<run>] DIR [database...]}"
shift 2
only=" $* "
if [ "$want" = latest ]; then
    want="$(list_objects | newest_complete)"
    [ -n "$want" ] || { log "no complete backup in s3://$S3_BUCKET/$S3_PREFIX"; exit 1; }
fi
mkdir -p "$dir"
rm -f "$dir/timestamp" "$dir/manifest.json" "$dir/manifest.partial.json"
manifest=""
for m in manifest.json manifest.partial.json; do
    if aws_s3 s3 cp --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/$want/$m" "$dir/$m" 2> /dev/null; then manifest="$m"; break; fi
done
[ -n "$manifest" ] || { log "run $want has no manifest: it is not a backup"; exit 1; }
[ "$manifest" = manifest.json ] || log "run $want is partial: only the databases its manifest lists as ok are in it"
dumps="$(manifest_dumps "$dir/$manifest")"
missing=()
: > "$dir/SHA256SUMS"
while IFS=$'\t' read -r db file sum; do
    [ -n "$db" ] || continue
    [ "$only" = "  " ] || [[ "$only" == *" $db "* ]] || continue
    if aws_s3 s3 cp --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/$want/$file" "$dir/$file"; then
        printf '%s  %s\n' "$sum" "$file" >> "$dir/SHA256SUMS"
    else
        missing+=("$db")
    fi
done <<< "$dumps"
if [ "${#missing[@]}" -gt 0 ]; then
    log "run $want lacks dumps its manifest lists: ${missing[*]}"
    exit 1
fi
if [ -s "$dir/SHA256SUMS" ]; then (cd "$dir" && sha256sum --check --quiet SHA256SUMS); fi
echo "$want" > "$dir/timestamp"
echo "fetched backup $want ($(wc -l < "$dir/SHA256SUMS") dumps) into $dir"
