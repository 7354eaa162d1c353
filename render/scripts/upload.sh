#!/usr/bin/env bash
# upload.sh: uploads each good dump of the run dump.sh recorded (verified against its checksum first),
# then the manifest, last: manifest.json when every database was dumped and uploaded (a complete backup),
# manifest.partial.json otherwise (its good dumps are restorable by naming the run). Records each
# database's final status in <run>/uploaded and runs prune.sh once the manifest is up (its result in
# <run>/pruned), for report.sh, which judges the run: this script exits 0 whenever it could record them,
# so the pod goes on to report; it exits 1 only when dump.sh never finished.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
: "${BACKUP_DIR:?BACKUP_DIR must be set}"
require_s3

[ -s "$BACKUP_DIR/ready" ] || { log "no dump run to upload (dump.sh did not finish)"; exit 1; }
run="$(cat "$BACKUP_DIR/ready")"
dir="$BACKUP_DIR/$run"
dest="s3://$S3_BUCKET/$S3_PREFIX/$run"

# A table's rows as JSON members; names are pg_dump's quoted identifiers, escaped for JSON.
tables_json() {
    awk -F'\t' '{ n = $1; gsub(/\\/, "\\\\", n); gsub(/"/, "\\\"", n); printf "%s\"%s\":%d", (NR > 1 ? "," : ""), n, $2 }' "$1"
}

upload_one() {
    local db="$1"
    (cd "$dir" && sha256sum --check --quiet "$db.sha256") >&2 || { echo checksum-failed; return 1; }
    aws_s3 s3 cp --only-show-errors "$dir/$db.dump" "$dest/$db.dump" >&2 || { echo upload-failed; return 1; }
    echo ok
}

entries=()
complete=true
: > "$dir/uploaded"
while read -r db status; do
    if [ "$status" = ok ]; then
        status="$(upload_one "$db")" || log "uploading $db failed: $status"
    fi
    if [ "$status" = ok ]; then
        read -r sum _ < "$dir/$db.sha256"
        entries+=("$(printf '    {"database":"%s","status":"ok","file":"%s.dump","size":%d,"sha256":"%s","tables":{%s}}' \
            "$db" "$db" "$(stat -c %s "$dir/$db.dump")" "$sum" "$(tables_json "$dir/$db.tables")")")
    else
        complete=false
        entries+=("$(printf '    {"database":"%s","status":"%s"}' "$db" "$status")")
    fi
    echo "$db $status" >> "$dir/uploaded"
done < "$dir/results"

manifest="manifest.json"
[ "$complete" = true ] || manifest="manifest.partial.json"
{
    printf '{\n  "format": 2,\n  "timestamp": "%s",\n  "complete": %s,\n  "databases": [\n' "$run" "$complete"
    (IFS=$'\n'; printf '%s\n' "${entries[*]}" | sed '$!s/$/,/')
    printf '  ]\n}\n'
} > "$dir/$manifest"
if ! aws_s3 s3 cp --only-show-errors "$dir/$manifest" "$dest/$manifest"; then
    # Without its manifest the run is no backup at all: every database failed to upload.
    log "uploading the manifest failed: run $run is not a backup; the previous complete backup stays the latest"
    sed -i 's/ .*$/ upload-failed/' "$dir/uploaded"
    echo skipped > "$dir/pruned"
    exit 0
fi
log "uploaded $(grep -c ' ok$' "$dir/uploaded" || true) of ${#entries[@]} dumps to $dest ($manifest)"
if bash "$here/prune.sh"; then echo ok > "$dir/pruned"; else echo failed > "$dir/pruned"; fi
