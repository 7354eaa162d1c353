#!/usr/bin/env bash
# dump.sh: dumps every database of the stack into $BACKUP_DIR/<run>/, each on its own: a database that
# fails (missing, unreadable, a broken archive) is recorded and the others are still dumped. Connection
# from PGHOST, PGPORT, PGUSER, PGPASSWORD (the backup role). Writes, per database, <db>.dump, <db>.sha256
# and <db>.tables (rows per table, counted from the archive itself), then "results" (one "<db> <status>"
# line each) and last $BACKUP_DIR/ready (the run's id). Exits 0 once the results are written, so the
# upload step can ship the good dumps; the run's exit status comes from report.sh.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=stack.sh
. "$here/stack.sh"
: "${BACKUP_DIR:?BACKUP_DIR must be set}"

run="${BACKUP_TIMESTAMP:-$(run_id)}"
out="$BACKUP_DIR/$run"
rm -f "$BACKUP_DIR/ready"
mkdir -p "$out"
: > "$out/results.partial"

# Rows per table of an archive, from its COPY data: "<schema-qualified name as pg_dump quotes it><TAB><rows>".
count_rows() {
    pg_restore --data-only --file=- "$1" | awk '
        copying && $0 == "\\." { print table "\t" rows; copying = 0; next }
        copying { rows++; next }
        /^COPY .* FROM stdin;$/ { table = $0; sub(/^COPY /, "", table); sub(/ (\(.*\) )?FROM stdin;$/, "", table); rows = 0; copying = 1 }'
}

# Every step is checked by hand: set -e does not apply inside a function called from an if.
dump_one() {
    local db="$1"
    pg_dump -Fc --no-owner --no-acl --dbname="$db" --file="$out/$db.dump.partial" || { echo dump-failed; return 1; }
    pg_restore --list "$out/$db.dump.partial" > /dev/null || { echo check-failed; return 1; }
    count_rows "$out/$db.dump.partial" > "$out/$db.tables" || { echo check-failed; return 1; }
    mv "$out/$db.dump.partial" "$out/$db.dump" || { echo dump-failed; return 1; }
    (cd "$out" && sha256sum "$db.dump" > "$db.sha256") || { echo dump-failed; return 1; }
    echo ok
}

failed=0
for db in "${databases[@]}"; do
    log "dumping $db"
    status="$(dump_one "$db")" || { failed=$((failed + 1)); rm -f "$out/$db.dump.partial" "$out/$db.dump"; log "dumping $db failed: $status"; }
    echo "$db $status" >> "$out/results.partial"
done
mv "$out/results.partial" "$out/results"
echo "$run" > "$BACKUP_DIR/ready"
log "dumped $(( ${#databases[@]} - failed )) of ${#databases[@]} databases into $out"
