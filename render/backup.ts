/**
 * The backup and restore scripts (STANDARD §8, defect 4 fixed), rendered from the stack so the database
 * list and the retention come from its spec, never from the script. The CronJob carries exactly this text,
 * and the tests run exactly this text against a real PostgreSQL and a real S3 API.
 *
 * Layout in the bucket: `<prefix>/<timestamp>/<database>.dump` for every database, then
 * `<prefix>/<timestamp>/manifest.json` (sizes and SHA-256 of every dump), written last. A backup is complete
 * exactly when its manifest exists; restore and pruning only trust complete backups.
 *
 *   dump.sh     (PostgreSQL client image) pg_dump -Fc every database into the shared volume, check each
 *               archive with pg_restore --list, record sizes and checksums; any failure fails the Job and
 *               nothing is uploaded.
 *   upload.sh   (AWS CLI image) verify the checksums, upload the dumps, then the manifest.
 *   prune.sh    (AWS CLI image) delete dumps older than their database's retention, by the objects' age in
 *               the bucket (never by parsing names), never the newest complete backup.
 *   fetch.sh    (AWS CLI image) download a complete backup (latest or named) and verify its checksums.
 *   restore.sh  (PostgreSQL client image) pg_restore --clean --if-exists --no-owner each database, as its
 *               service role, so restored objects belong to the service as its migrations made them.
 */

export interface BackupScriptsInput {
    /** Databases to dump, with their retention in days. */
    readonly databases: readonly { readonly name: string; readonly role: string; readonly retentionDays: number }[];
    /** Days for a database not listed (e.g. dropped from the stack since). */
    readonly defaultRetentionDays: number;
}

const HEADER = `#!/usr/bin/env bash
# Rendered by hanzo-sql from the stack; do not edit here (see render/backup.ts).
set -euo pipefail
`;

/** Database names as a bash array literal. */
function dbArray(input: BackupScriptsInput): string {
    return `(${input.databases.map((d) => d.name).join(" ")})`;
}

/** The five scripts, by file name. */
export function renderBackupScripts(input: BackupScriptsInput): Record<string, string> {
    for (const d of input.databases) {
        if (!/^[a-z][a-z0-9_]*$/.test(d.name) || !/^[a-z][a-z0-9_]*$/.test(d.role)) {
            throw new Error(`database ${d.name} (role ${d.role}) is not a plain identifier; the scripts only quote those`);
        }
    }
    const retention = input.databases.map((d) => `[${d.name}]=${d.retentionDays}`).join(" ");
    const roles = input.databases.map((d) => `[${d.name}]=${d.role}`).join(" ");

    const dump = `${HEADER}# Dumps every database of the stack into $BACKUP_DIR/<timestamp>/. Connection from PGHOST, PGPORT,
# PGUSER, PGPASSWORD (the backup role). Writes $BACKUP_DIR/ready only when every dump is complete and valid.
: "\${BACKUP_DIR:?BACKUP_DIR must be set}"
databases=${dbArray(input)}
ts="\${BACKUP_TIMESTAMP:-$(date -u +%Y-%m-%dT%H-%M-%SZ)}"
out="$BACKUP_DIR/$ts"
rm -f "$BACKUP_DIR/ready"
mkdir -p "$out"
: > "$out/SHA256SUMS"
for db in "\${databases[@]}"; do
    echo "dumping $db"
    pg_dump -Fc --no-owner --no-acl --dbname="$db" --file="$out/$db.dump.partial"
    # A readable archive, or the Job fails here.
    pg_restore --list "$out/$db.dump.partial" > /dev/null
    mv "$out/$db.dump.partial" "$out/$db.dump"
    (cd "$out" && sha256sum "$db.dump" >> SHA256SUMS)
done
echo "$ts" > "$BACKUP_DIR/ready"
echo "dumped \${#databases[@]} databases into $out"
`;

    const s3 = `aws_s3() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }
: "\${S3_ENDPOINT:?S3_ENDPOINT must be set}" "\${S3_BUCKET:?S3_BUCKET must be set}" "\${S3_PREFIX:?S3_PREFIX must be set}"
`;

    const upload = `${HEADER}# Uploads the dumps dump.sh completed, then their manifest (last: the backup is complete only then).
: "\${BACKUP_DIR:?BACKUP_DIR must be set}"
${s3}
[ -s "$BACKUP_DIR/ready" ] || { echo "no complete dump to upload (dump.sh did not finish)" >&2; exit 1; }
ts="$(cat "$BACKUP_DIR/ready")"
dir="$BACKUP_DIR/$ts"
(cd "$dir" && sha256sum --check --quiet SHA256SUMS)
dest="s3://$S3_BUCKET/$S3_PREFIX/$ts"
entries=()
while read -r sum file; do
    db="\${file%.dump}"
    size="$(stat -c %s "$dir/$file")"
    aws_s3 s3 cp --only-show-errors "$dir/$file" "$dest/$file"
    entries+=("{\\"database\\":\\"$db\\",\\"file\\":\\"$file\\",\\"size\\":$size,\\"sha256\\":\\"$sum\\"}")
done < "$dir/SHA256SUMS"
(IFS=,; printf '{"timestamp":"%s","databases":[%s]}\\n' "$ts" "\${entries[*]}") > "$dir/manifest.json"
aws_s3 s3 cp --only-show-errors "$dir/manifest.json" "$dest/manifest.json"
echo "uploaded \${#entries[@]} dumps to $dest"
`;

    const prune = `${HEADER}# Deletes dumps older than their database's retention, judged by each object's age in the bucket (not by
# its name), and never any file of the newest complete backup. A prefix without a manifest (an upload cut
# short, or an old job's backup) is deleted once all of it is older than the default retention.
${s3}
declare -A retention=(${retention})
default_days="\${DEFAULT_RETENTION_DAYS:-${input.defaultRetentionDays}}"
now="$(date -u +%s)"
listing="$(aws_s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" --query 'Contents[].[Key, LastModified]' --output text)"
[ -n "$listing" ] && [ "$listing" != "None" ] || { echo "nothing to prune"; exit 0; }
declare -A age complete
newest=""
newest_seconds=0
while read -r key modified; do
    [ -n "$key" ] || continue
    age[$key]=$(( (now - $(date -u -d "$modified" +%s)) / 86400 ))
    rest="\${key#"$S3_PREFIX"/}"
    ts="\${rest%%/*}"
    if [ "\${rest#*/}" = "manifest.json" ]; then
        complete[$ts]=1
        seconds=$(( now - $(date -u -d "$modified" +%s) ))
        if [ -z "$newest" ] || [ "$seconds" -lt "$newest_seconds" ]; then newest="$ts"; newest_seconds=$seconds; fi
    fi
done <<< "$listing"
declare -A keep_prefix
deleted=0
while read -r key modified; do
    [ -n "$key" ] || continue
    rest="\${key#"$S3_PREFIX"/}"
    ts="\${rest%%/*}"
    file="\${rest#*/}"
    [ "$ts" != "$newest" ] || continue
    if [ -n "\${complete[$ts]:-}" ]; then
        [ "$file" != "manifest.json" ] || continue
        db="\${file%.dump}"
        days="\${retention[$db]:-$default_days}"
    else
        days="$default_days"
    fi
    if [ "\${age[$key]}" -ge "$days" ]; then
        aws_s3 s3 rm --only-show-errors "s3://$S3_BUCKET/$key"
        deleted=$((deleted + 1))
    else
        keep_prefix[$ts]=1
    fi
done <<< "$listing"
# A complete backup none of whose dumps is left loses its manifest too.
for ts in "\${!complete[@]}"; do
    if [ "$ts" != "$newest" ] && [ -z "\${keep_prefix[$ts]:-}" ]; then
        aws_s3 s3 rm --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/$ts/manifest.json"
        deleted=$((deleted + 1))
    fi
done
echo "pruned $deleted objects; newest complete backup: \${newest:-none}"
`;

    const fetch = `${HEADER}# fetch.sh [timestamp|latest] DIR: downloads a complete backup and verifies it against its manifest.
${s3}
want="\${1:-latest}"
dir="\${2:?usage: fetch.sh [timestamp|latest] DIR}"
if [ "$want" = latest ]; then
    want="$(aws_s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" \\
        --query "reverse(sort_by(Contents[?ends_with(Key, '/manifest.json')], &LastModified))[0].Key" --output text)"
    [ "$want" != "None" ] && [ -n "$want" ] || { echo "no complete backup in s3://$S3_BUCKET/$S3_PREFIX" >&2; exit 1; }
    want="\${want#"$S3_PREFIX"/}"
    want="\${want%/manifest.json}"
fi
mkdir -p "$dir"
aws_s3 s3 cp --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/$want/manifest.json" "$dir/manifest.json" \\
    || { echo "backup $want is not complete (no manifest)" >&2; exit 1; }
aws_s3 s3 cp --only-show-errors --recursive --exclude manifest.json "s3://$S3_BUCKET/$S3_PREFIX/$want/" "$dir/"
# Every dump the manifest lists, with its checksum (dumps pruned by retention are reported, not fatal).
grep -o '"file":"[^"]*","size":[0-9]*,"sha256":"[0-9a-f]*"' "$dir/manifest.json" | sed -E 's/"file":"([^"]*)".*"sha256":"([0-9a-f]*)"/\\2  \\1/' > "$dir/SHA256SUMS.all"
: > "$dir/SHA256SUMS"
while read -r sum file; do
    if [ -f "$dir/$file" ]; then echo "$sum  $file" >> "$dir/SHA256SUMS"; else echo "$file: pruned by its retention" >&2; fi
done < "$dir/SHA256SUMS.all"
(cd "$dir" && sha256sum --check --quiet SHA256SUMS)
echo "$want" > "$dir/timestamp"
echo "fetched backup $want into $dir"
`;

    const restore = `${HEADER}# restore.sh DIR [database...]: restores dumps fetched into DIR (all, or the databases named), each with
# pg_restore --clean --if-exists --no-owner as its service role, so its objects belong to the service.
# Extensions are left out of the restore: the administrator creates them (they exist in every database).
# Connection from PGHOST, PGPORT, PGUSER (the administrator), PGPASSWORD.
dir="\${1:?usage: restore.sh DIR [database...]}"
shift
declare -A role=(${roles})
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=(); for f in "$dir"/*.dump; do targets+=("$(basename "$f" .dump)"); done; fi
for db in "\${targets[@]}"; do
    [ -f "$dir/$db.dump" ] || { echo "no dump of $db in $dir" >&2; exit 1; }
    owner="\${role[$db]:-\${db}_user}"
    pg_restore --list "$dir/$db.dump" | grep -v -E '^[0-9]+; [0-9]+ [0-9]+ (EXTENSION|COMMENT - EXTENSION) ' > "$dir/$db.list"
    echo "restoring $db as $owner"
    pg_restore --clean --if-exists --no-owner --role="$owner" --exit-on-error --single-transaction \\
        --use-list="$dir/$db.list" --dbname="$db" "$dir/$db.dump"
done
echo "restored \${#targets[@]} databases"
`;
    return { "dump.sh": dump, "upload.sh": upload, "prune.sh": prune, "fetch.sh": fetch, "restore.sh": restore };
}
