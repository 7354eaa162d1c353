/**
 * The backup, restore and drill scripts (STANDARD §8, defect 4 and 18 fixed, issue #14). The scripts are
 * real files in render/scripts/ (shellcheck runs on them in a test); the stack's own values (databases,
 * roles, retention, extensions, required tables) are rendered into stack.sh, which they source. The
 * ConfigMap carries exactly these files, and the tests run exactly these files against a real PostgreSQL,
 * the AWS CLI and an S3 API that paginates.
 *
 * Layout in the bucket: `<prefix>/<run>/<database>.dump` for each database dumped and uploaded, then the
 * run's manifest, written last: `manifest.json` when every database succeeded (a complete backup),
 * `manifest.partial.json` otherwise (its good dumps are restorable by naming the run). `<run>` is the UTC
 * time plus 8 random hex digits, so two runs never share a prefix; which backup is the latest comes from
 * the S3 server's times, never from names or the pod's clock.
 *
 * The manifest is JSON (`format: 2`): the run, `complete`, and per database its status (`ok`,
 * `dump-failed`, `check-failed`, `checksum-failed`, `upload-failed`) and, when ok, its file, size, SHA-256
 * and the rows of each table counted from the archive. The postgres image has no jq and the aws-cli image
 * no python3, so the scripts write it one database per line and read it back by matching exactly that
 * layout (a line of any other shape fails the read); the drill reads it with PostgreSQL's own JSON parser,
 * and the tests with JSON.parse.
 *
 *   dump.sh     (PostgreSQL client image) pg_dump -Fc each database on its own, check the archive, count rows.
 *   upload.sh   (AWS CLI image) upload each good dump, the manifest last, then prune.sh.
 *   prune.sh    (AWS CLI image) retention by the S3 server's times; never the newest complete backup.
 *   report.sh   (PostgreSQL client image) each database's result into hanzo_backup.status (metrics); the
 *               run's exit status.
 *   fetch.sh    (AWS CLI image) download a backup (latest complete, or a named run), verify every dump.
 *   restore.sh  (PostgreSQL client image) pg_restore each database as its service role; failures reported.
 *   drill.sh    (PostgreSQL image) restore into a scratch server in the pod; the ADR-60 checks; report.
 */
import * as fs from "fs";
import * as path from "path";

export interface BackupScriptsInput {
    /** Databases to dump, with their owner, retention in days, extensions and required tables. */
    readonly databases: readonly {
        readonly name: string;
        readonly role: string;
        readonly retentionDays: number;
        readonly extensions?: readonly string[];
        readonly requiredTables?: readonly string[];
    }[];
    /** Days for a database not listed (e.g. dropped from the stack since). */
    readonly defaultRetentionDays: number;
    /**
     * The WAL archive's drill (docs/pitr.md), when the stack archives: its pgbackrest.conf
     * (render/pitr.ts renderRestorePgbackrestConf); the ConfigMap then also carries pitr-drill.sh.
     */
    readonly pitrDrillConf?: string;
}

/** The WAL archive drill's script and its pgbackrest.conf in the ConfigMap (only when the stack archives). */
export const PITR_DRILL_FILES = { script: "pitr-drill.sh", conf: "pgbackrest-drill.conf" } as const;

/** The script files, in the order a reader meets them. */
export const BACKUP_SCRIPT_FILES = [
    "lib.sh",
    "dump.sh",
    "upload.sh",
    "prune.sh",
    "report.sh",
    "fetch.sh",
    "restore.sh",
    "drill.sh",
] as const;

/** render/scripts, from the sources (ts-node, the policy pack) or from the build (build/render/). */
export function scriptsDir(): string {
    const candidates = [path.join(__dirname, "scripts"), path.join(__dirname, "..", "..", "render", "scripts")];
    const found = candidates.find((d) => fs.existsSync(path.join(d, "dump.sh")));
    if (found === undefined) {
        throw new Error(`the backup scripts are not in ${candidates.join(" or ")}`);
    }
    return found;
}

const IDENTIFIER = /^[a-z][a-z0-9_]*$/;
const EXTENSION = /^[a-z][a-z0-9_-]*$/;
const TABLE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/** stack.sh: the stack's values as bash arrays, sourced by every script. */
export function renderStackSh(input: BackupScriptsInput): string {
    const problems: string[] = [];
    for (const d of input.databases) {
        if (!IDENTIFIER.test(d.name) || !IDENTIFIER.test(d.role)) {
            problems.push(`database ${d.name} (role ${d.role}) is not a plain identifier; the scripts only quote those`);
        }
        for (const e of d.extensions ?? []) {
            if (!EXTENSION.test(e)) problems.push(`database ${d.name}: extension ${e} is not a plain name`);
        }
        for (const t of d.requiredTables ?? []) {
            if (!TABLE.test(t)) problems.push(`database ${d.name}: required table ${t} is not a plain [schema.]table name`);
        }
    }
    if (problems.length > 0) {
        throw new Error(problems.join("; "));
    }
    const assoc = (f: (d: BackupScriptsInput["databases"][number]) => string) =>
        input.databases.map((d) => `[${d.name}]=${f(d)}`).join(" ");
    return [
        "# shellcheck shell=bash disable=SC2034",
        "# Rendered by hanzo-sql from the stack (render/backup.ts); the scripts source it.",
        `databases=(${input.databases.map((d) => d.name).join(" ")})`,
        `declare -A role=(${assoc((d) => d.role)})`,
        `declare -A retention=(${assoc((d) => String(d.retentionDays))})`,
        `declare -A extensions=(${assoc((d) => `"${(d.extensions ?? []).join(" ")}"`)})`,
        `declare -A required_tables=(${assoc((d) => `"${(d.requiredTables ?? []).join(" ")}"`)})`,
        `default_retention_days=${input.defaultRetentionDays}`,
        "",
    ].join("\n");
}

/** The ConfigMap's files by name: stack.sh and the scripts. */
export function renderBackupScripts(input: BackupScriptsInput): Record<string, string> {
    const dir = scriptsDir();
    const out: Record<string, string> = { "stack.sh": renderStackSh(input) };
    for (const f of BACKUP_SCRIPT_FILES) {
        out[f] = fs.readFileSync(path.join(dir, f), "utf8");
    }
    if (input.pitrDrillConf !== undefined) {
        out[PITR_DRILL_FILES.script] = fs.readFileSync(path.join(dir, PITR_DRILL_FILES.script), "utf8");
        out[PITR_DRILL_FILES.conf] = input.pitrDrillConf;
    }
    return out;
}

/** The schema in the `postgres` database, owned by the backup role, where report.sh records results. */
export const BACKUP_STATUS_SCHEMA = "hanzo_backup";

/**
 * postgres_exporter's query file (`--extend.query-path`): hanzo_backup.status as
 * `hanzo_backup_last_success_timestamp_seconds`, `hanzo_backup_last_attempt_timestamp_seconds` and
 * `hanzo_backup_last_run_ok`, labelled by kind (backup, drill) and database.
 */
export function renderBackupMetricsQueries(): string {
    return `# Rendered by hanzo-sql (render/backup.ts): the backup job's and the restore drill's results, per database.
hanzo_backup:
  query: "SELECT kind, database, extract(epoch FROM last_attempt) AS last_attempt_timestamp_seconds, coalesce(extract(epoch FROM last_success), 0) AS last_success_timestamp_seconds, CASE WHEN ok THEN 1 ELSE 0 END AS last_run_ok FROM ${BACKUP_STATUS_SCHEMA}.status"
  metrics:
    - kind:
        usage: "LABEL"
        description: "backup or drill"
    - database:
        usage: "LABEL"
        description: "the database"
    - last_attempt_timestamp_seconds:
        usage: "GAUGE"
        description: "when the last run tried this database (server time)"
    - last_success_timestamp_seconds:
        usage: "GAUGE"
        description: "when the last run that succeeded for this database ended (0: never)"
    - last_run_ok:
        usage: "GAUGE"
        description: "1 when the last run succeeded for this database"
`;
}

/**
 * postgres_exporter query file lines (appended to renderBackupMetricsQueries when the stack archives): how
 * long the last drill's restore took, from hanzo_backup.status's duration_seconds (report.sh adds the
 * column on its first run; read through to_jsonb so the query also answers, with no rows, on a table
 * that has not got it yet), as `hanzo_backup_restore_seconds{kind, database}`.
 */
export function renderRestoreMetricsQueries(): string {
    return `# Rendered by hanzo-sql (render/backup.ts): how long the last drill's restore took (RTO).
hanzo_backup_restore:
  query: "SELECT kind, database, (to_jsonb(s) ->> 'duration_seconds')::float8 AS seconds FROM ${BACKUP_STATUS_SCHEMA}.status s WHERE to_jsonb(s) ->> 'duration_seconds' IS NOT NULL"
  metrics:
    - kind:
        usage: "LABEL"
        description: "the drill (pitr: the WAL archive's)"
    - database:
        usage: "LABEL"
        description: "the database (all: the whole cluster)"
    - seconds:
        usage: "GAUGE"
        description: "seconds from the restore's start until the restored server accepted writes, in the last drill"
`;
}
