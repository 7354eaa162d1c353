#!/usr/bin/env bash
# restore.sh DIR [database...]: restores the dumps fetched into DIR (all, or the databases named), each on
# its own with pg_restore --clean --if-exists --no-owner in one transaction, as its service role (--role),
# so restored objects belong to the service as its migrations made them. Extensions: those the target
# database has from another owner (the stack's, created by the administrator) are left out of the
# restore, since the service role may not drop or recreate them; the others (a trusted extension the
# service created itself, e.g. hstore) are restored by the service role as it created them. One database's failure does not stop
# the others; the exit status is 1 when any failed, and the last line names them.
# Connection from PGHOST, PGPORT, PGUSER (the administrator), PGPASSWORD.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=stack.sh
. "$here/stack.sh"
dir="${1:?usage: restore.sh DIR [database...]}"
shift
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$dir"/*.dump; do [ -e "$f" ] && targets+=("$(basename "$f" .dump)"); done
fi

restore_one() {
    local db="$1" owner existing
    owner="${role[$db]:-${db}_user}"
    [ -f "$dir/$db.dump" ] || { log "no dump of $db in $dir"; return 1; }
    existing="$(psql -X -A -t -q --dbname="$db" -v owner="$owner" <<'SQL'
SELECT string_agg(extname, ' ') FROM pg_extension WHERE extowner <> coalesce(to_regrole(:'owner')::oid, 0::oid)
SQL
)" || return 1
    pg_restore --list "$dir/$db.dump" | awk -v have=" $existing " '
        match($0, /^[0-9]+; [0-9]+ [0-9]+ (EXTENSION - |COMMENT - EXTENSION )[^ ]+/) {
            n = split(substr($0, RSTART, RLENGTH), f, " "); name = f[n]; gsub(/"/, "", name)
            if (index(have, " " name " ") > 0) next
        }
        { print }' > "$dir/$db.list" || return 1
    log "restoring $db as $owner"
    pg_restore --clean --if-exists --no-owner --role="$owner" --exit-on-error --single-transaction \
        --use-list="$dir/$db.list" --dbname="$db" "$dir/$db.dump"
}

failed=()
for db in "${targets[@]}"; do
    restore_one "$db" || { failed+=("$db"); log "restoring $db failed"; }
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "restored $(( ${#targets[@]} - ${#failed[@]} )) of ${#targets[@]} databases; failed: ${failed[*]}"
    exit 1
fi
echo "restored ${#targets[@]} databases"
