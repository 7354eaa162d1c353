/**
 * Continuous WAL archiving and point-in-time recovery with pgBackRest (issue 23; docs/pitr.md says why
 * pgBackRest). Pure functions of the stack's values: the pgbackrest.conf the server container uses (its
 * archive_command pushes WAL, asynchronously, from there), the one the backup Job uses, and the
 * postgresql.conf lines that turn archiving on.
 *
 * The S3 key and secret never appear in a file: pgBackRest reads them from PGBACKREST_REPO1_S3_KEY and
 * PGBACKREST_REPO1_S3_KEY_SECRET (its env form of repo1-s3-key / repo1-s3-key-secret, which it refuses on
 * the command line), set on the containers from the backup Secret.
 *
 * pgBackRest 2.45's rules these files follow (its `help` for each option; measured in test/db/pitr.test.ts):
 * - repo1-type=s3 talks TLS only; repo1-s3-endpoint is the host, repo1-storage-port its port,
 *   repo1-s3-uri-style=path for S3 APIs without virtual-host buckets (MinIO, s3rver), host for Spaces/AWS;
 * - archive-async=y needs spool-path: archive-push then returns as soon as the async process has pushed
 *   the segment (it pushes several at once, process-max), and archive-get prefetches ahead during recovery;
 * - archive-push-queue-max: once that much WAL waits in pg_wal, pgBackRest drops it (reports success to
 *   PostgreSQL, warns in the log): the archive gets a gap that the next full backup closes, but pg_wal
 *   never fills the volume and stops the server (STANDARD: a database up beats an archive without gaps);
 * - repo1-retention-full-type=time with repo1-retention-full=N keeps every backup needed to restore to any
 *   point of the last N days (and always the newest full); expiry runs after each successful backup only,
 *   so nothing expires while backups fail; WAL older than the oldest kept backup expires with it.
 */
import { Setting } from "../policies/standard/settings";

/** The stanza name every stack uses (one PostgreSQL cluster per stack; the bucket prefix separates stacks). */
export const PITR_STANZA = "db";
/** Where the configuration is mounted in every container that runs pgbackrest. */
export const PGBACKREST_CONF_PATH = "/etc/pgbackrest/pgbackrest.conf";
/** The env names pgBackRest reads the bucket's key and secret from. */
export const PGBACKREST_KEY_ENV = { key: "PGBACKREST_REPO1_S3_KEY", secret: "PGBACKREST_REPO1_S3_KEY_SECRET" } as const;
/** The longest archive_timeout allowed: a quiet server still archives within a minute (RPO idle ≤ 60 s). */
export const MAX_ARCHIVE_TIMEOUT_SECONDS = 60;

export interface PitrRepo {
    /** https://host[:port] of the S3 API (pgBackRest speaks TLS only). */
    readonly endpoint: string;
    readonly region: string;
    readonly bucket: string;
    /** Key prefix of the repository in the bucket (the dumps keep their own prefix). */
    readonly prefix: string;
    /** path for MinIO-like endpoints of your own, host for DigitalOcean Spaces and AWS. */
    readonly uriStyle: "host" | "path";
    /** A CA bundle to verify the endpoint with (a private MinIO); the system's CAs otherwise. */
    readonly caFile?: string;
}

export interface PitrSpec {
    readonly repo: PitrRepo;
    /** Days of point-in-time recovery the archive keeps (repo1-retention-full-type=time). */
    readonly retentionDays: number;
    /** PGDATA where the server runs (the volume's subdirectory, or its root for adopted servers). */
    readonly pgdata: string;
    /** The server's Unix socket directory and port (pgBackRest connects there as `user`). */
    readonly socketPath: string;
    readonly port: number;
    /** The superuser pgBackRest connects as (pg_backup_start, pg_switch_wal, pg_create_restore_point). */
    readonly user: string;
    /** The async spool directory (an emptyDir in the pod: it holds only acknowledgements and prefetched WAL). */
    readonly spoolPath: string;
    /** archive_timeout in seconds (≤ 60). */
    readonly archiveTimeoutSeconds: number;
    /** Bytes of unarchived WAL after which pgBackRest drops it instead of filling the volume. */
    readonly archiveQueueMaxBytes: number;
    /** Parallel processes for push, get, backup and restore. */
    readonly processMax: number;
    /** Where pgbackrest.conf is (the archive and restore commands name it). */
    readonly configPath?: string;
}

/** Why a spec cannot be rendered (each names the stack key and the fix), [] when it can. */
export function pitrProblems(spec: PitrSpec): string[] {
    const problems: string[] = [];
    const url = parseEndpoint(spec.repo.endpoint);
    if (url === undefined) {
        problems.push(
            `pitr endpoint ${JSON.stringify(spec.repo.endpoint)}: pgBackRest reaches S3 over TLS only; give https://host[:port] (backupEndpoint)`,
        );
    }
    if (url !== undefined && /^[0-9.]+$|^\[/.test(url.host)) {
        problems.push(
            `pitr endpoint ${JSON.stringify(spec.repo.endpoint)}: pgBackRest 2.45 verifies the certificate against DNS names only (an IP address never matches); give the endpoint's host name (backupEndpoint)`,
        );
    }
    if (!Number.isInteger(spec.retentionDays) || spec.retentionDays < 1 || spec.retentionDays > 9_999_999) {
        problems.push(`pitrRetentionDays must be a whole number of days from 1 (got ${spec.retentionDays})`);
    }
    if (
        !Number.isInteger(spec.archiveTimeoutSeconds) ||
        spec.archiveTimeoutSeconds < 1 ||
        spec.archiveTimeoutSeconds > MAX_ARCHIVE_TIMEOUT_SECONDS
    ) {
        problems.push(
            `pitrArchiveTimeoutSeconds must be from 1 to ${MAX_ARCHIVE_TIMEOUT_SECONDS} (a quiet server must still archive within a minute; got ${spec.archiveTimeoutSeconds})`,
        );
    }
    for (const [k, v] of [
        ["pgdata", spec.pgdata],
        ["socketPath", spec.socketPath],
        ["spoolPath", spec.spoolPath],
        ["prefix", spec.repo.prefix],
    ] as const) {
        if (!/^\/[A-Za-z0-9._/-]*$/.test(v)) {
            problems.push(`${k} ${JSON.stringify(v)} must be an absolute path of letters, digits, . _ - and /`);
        }
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(spec.repo.bucket)) {
        problems.push(`backupBucket ${JSON.stringify(spec.repo.bucket)} is not a bucket name`);
    }
    if (!/^[a-z0-9-]+$/.test(spec.repo.region)) {
        problems.push(`backupRegion ${JSON.stringify(spec.repo.region)} is not a region name`);
    }
    if (!/^[a-z_][a-z0-9_]*$/.test(spec.user)) {
        problems.push(`user ${JSON.stringify(spec.user)} is not a plain role name`);
    }
    return problems;
}

function parseEndpoint(endpoint: string): { host: string; port: number } | undefined {
    const m = /^https:\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::([0-9]{1,5}))?\/?$/.exec(endpoint);
    return m ? { host: m[1], port: m[2] ? Number(m[2]) : 443 } : undefined;
}

function check(spec: PitrSpec): { host: string; port: number } {
    const problems = pitrProblems(spec);
    if (problems.length > 0) {
        throw new Error(`point-in-time recovery: ${problems.join("; ")}`);
    }
    return parseEndpoint(spec.repo.endpoint)!;
}

function ini(sections: [string, [string, string | number][]][]): string {
    const out = [
        "# pgbackrest.conf rendered by hanzo-sql (render/pitr.ts). The S3 key and secret are not here: pgBackRest",
        `# reads them from ${PGBACKREST_KEY_ENV.key} and ${PGBACKREST_KEY_ENV.secret} (the backup Secret).`,
    ];
    for (const [name, options] of sections) {
        out.push("", `[${name}]`, ...options.map(([k, v]) => `${k}=${v}`));
    }
    return out.join("\n") + "\n";
}

/** The repository options both containers share: the bucket, TLS, compression, retention. */
function repoOptions(spec: PitrSpec): [string, string | number][] {
    const { host, port } = check(spec);
    return [
        ["repo1-type", "s3"],
        ["repo1-s3-endpoint", host],
        ["repo1-storage-port", port],
        ["repo1-s3-region", spec.repo.region],
        ["repo1-s3-bucket", spec.repo.bucket],
        ["repo1-s3-uri-style", spec.repo.uriStyle],
        ["repo1-path", spec.repo.prefix],
        ...(spec.repo.caFile ? ([["repo1-storage-ca-file", spec.repo.caFile]] as [string, string][]) : []),
        ["repo1-retention-full-type", "time"],
        ["repo1-retention-full", spec.retentionDays],
        ["compress-type", "zst"],
        ["process-max", spec.processMax],
        // Logs go to the container's stderr (kubectl logs); no log directory to fill.
        ["log-level-console", "info"],
        ["log-level-file", "off"],
    ];
}

/**
 * pgbackrest.conf of the server container: archive-push (async, parallel, bounded by the queue maximum)
 * from archive_command, archive-get for restore_command, and the local cluster as pg1.
 */
export function renderServerPgbackrestConf(spec: PitrSpec): string {
    return ini([
        [
            "global",
            [
                ...repoOptions(spec),
                ["archive-async", "y"],
                ["spool-path", spec.spoolPath],
                // The locks beside the spool: pgBackRest's default, /tmp/pgbackrest, is shared by every
                // pgbackrest of the host (or of the container) whose stanza has the same name.
                ["lock-path", `${spec.spoolPath}/lock`],
                ["archive-push-queue-max", megabytesOption(spec.archiveQueueMaxBytes)],
                // The segment waits at most this long for the async process before archive_command fails and
                // PostgreSQL retries it (so pg_stat_archiver counts failures while the bucket is down).
                ["archive-timeout", 30],
                ["archive-get-queue-max", "256MiB"],
            ],
        ],
        [
            PITR_STANZA,
            [
                ["pg1-path", spec.pgdata],
                ["pg1-socket-path", spec.socketPath],
                ["pg1-port", spec.port],
                ["pg1-user", spec.user],
            ],
        ],
    ]);
}

/**
 * pgbackrest.conf of the backup Job. It runs where PGDATA is (pgBackRest's backup reads the data files
 * itself), i.e. in the server's pod: the same options as the server's, without the archive queue.
 */
export function renderBackupPgbackrestConf(spec: PitrSpec): string {
    return ini([
        [
            "global",
            [
                ...repoOptions(spec),
                ["start-fast", "y"],
                ["delta", "y"],
                // Small files combined into bundle objects: a restore makes ~10 requests instead of one per file
                // (~1,000 for an empty cluster); it halved the restore here (docs/pitr.md "Restore speed").
                ["repo1-bundle", "y"],
                ["lock-path", `${spec.spoolPath}/lock`],
            ],
        ],
        [
            PITR_STANZA,
            [
                ["pg1-path", spec.pgdata],
                ["pg1-socket-path", spec.socketPath],
                ["pg1-port", spec.port],
                ["pg1-user", spec.user],
            ],
        ],
    ]);
}

function megabytesSetting(bytes: number): string {
    return `${Math.max(1, Math.floor(bytes / 2 ** 20))}MB`;
}

function megabytesOption(bytes: number): string {
    return `${Math.max(1, Math.floor(bytes / 2 ** 20))}MiB`;
}

function pgbackrest(spec: PitrSpec): string {
    return `pgbackrest --config=${spec.configPath ?? PGBACKREST_CONF_PATH} --stanza=${PITR_STANZA}`;
}

/** archive_command: pgBackRest's archive-push of the segment PostgreSQL names. */
export function archiveCommand(spec: PitrSpec): string {
    return `${pgbackrest(spec)} archive-push %p`;
}

/** restore_command: pgBackRest's archive-get (prefetching ahead, async). */
export function restoreCommand(spec: PitrSpec): string {
    return `${pgbackrest(spec)} archive-get %f "%p"`;
}

/** Quotes a postgresql.conf string value. */
const quoted = (v: string) => `'${v.replace(/'/g, "''")}'`;

/**
 * The postgresql.conf lines archiving adds (the standard's settings, policies/standard/settings.ts, take
 * them as an extra list): archive_mode, archive_command, archive_timeout, max_slot_wal_keep_size (the same WAL
 * budget as the archive queue, so a stale slot cannot fill the volume either) and restore_command.
 */
export function archiveSettings(spec: PitrSpec): Setting[] {
    check(spec);
    return [
        { name: "archive_mode", value: "on", why: "continuous WAL archiving to the bucket (pgBackRest; docs/pitr.md)" },
        { name: "archive_command", value: quoted(archiveCommand(spec)), why: "pgBackRest archive-push, async and parallel" },
        {
            name: "archive_timeout",
            value: `${spec.archiveTimeoutSeconds}s`,
            why: "a quiet server still switches and archives its segment this often (the idle RPO)",
        },
        {
            name: "max_slot_wal_keep_size",
            value: megabytesSetting(spec.archiveQueueMaxBytes),
            why: "no replication slot may hold more WAL than the archive queue may: the volume's WAL budget (docs/pitr.md)",
        },
        {
            name: "restore_command",
            value: quoted(restoreCommand(spec)),
            why: "used only in recovery (a restore, a standby cloned from the archive)",
        },
    ];
}

/** How a point-in-time restore chooses where to stop (pgBackRest restore --type). */
export type RecoveryTarget =
    | { readonly type: "time"; readonly time: string }
    | { readonly type: "lsn"; readonly lsn: string }
    | { readonly type: "name"; readonly name: string }
    | { readonly type: "end" };

/**
 * The pgbackrest restore arguments for a target. A restore into a scratch server (the drill, a look at
 * yesterday's data) passes `archive: false`: it must never push its new timeline into the source's
 * archive, where a later restore to `latest` would follow it.
 */
export function restoreArgs(target: RecoveryTarget, opts: { pgdata: string; archive: boolean }): string[] {
    const t: string[] =
        target.type === "end"
            ? []
            : target.type === "time"
              ? ["--type=time", `--target=${target.time}`]
              : target.type === "lsn"
                ? ["--type=lsn", `--target=${target.lsn}`]
                : ["--type=name", `--target=${target.name}`];
    if (target.type === "time" && !/^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+(\+[0-9]{2}|Z|)$/.test(target.time)) {
        throw new Error(`restore target time ${JSON.stringify(target.time)} must look like "2026-12-05 02:30:00+00"`);
    }
    return [
        ...t,
        ...(target.type === "end" ? [] : ["--target-action=promote"]),
        `--pg1-path=${opts.pgdata}`,
        ...(opts.archive ? [] : ["--archive-mode=off"]),
        "restore",
    ];
}

/**
 * HIP-29's own image (image/Containerfile: postgres:16-bookworm with pgvector and pgBackRest), pinned by
 * this tag until .github/workflows/image.yml has published it once; then by the digest that run prints.
 */
export const HANZO_SQL_IMAGE = "ghcr.io/hanzoai/sql:16-bookworm";

/**
 * The WAL budget of a volume (archive-push-queue-max and max_slot_wal_keep_size): a quarter of it, so WAL
 * that cannot be archived (or a stale slot) never takes the room the data needs. docs/pitr.md states how
 * long that lasts at measured WAL rates, and what happens past it.
 */
export function walBudgetBytes(volumeBytes: number): number {
    return Math.floor(volumeBytes / 4);
}

/** Where a restore outside the server pod (the drill, a bootstrap) keeps its spool and locks, and restores to. */
export interface RestoreConfInput {
    /** The data directory the restore fills (empty; the drill's scratch directory, a new volume's PGDATA). */
    readonly pgdata: string;
    /** archive-get's async spool (prefetched WAL) and the locks: a directory of the restoring container. */
    readonly spoolPath: string;
}

/**
 * pgbackrest.conf of a restore that runs outside the server container (the drill's scratch server, a new
 * stack's bootstrap from another stack's archive): the same repository as the server's (one source), its
 * archive-get asynchronous so recovery prefetches WAL in parallel instead of one segment per
 * restore_command, and pg1-path the directory restored into. No archive-push options: such a server never
 * archives (archive-mode=off).
 */
export function renderRestorePgbackrestConf(spec: PitrSpec, input: RestoreConfInput): string {
    return ini([
        [
            "global",
            [
                ...repoOptions(spec),
                ["archive-async", "y"],
                ["spool-path", input.spoolPath],
                ["lock-path", `${input.spoolPath}/lock`],
                ["archive-get-queue-max", "256MiB"],
            ],
        ],
        [PITR_STANZA, [["pg1-path", input.pgdata]]],
    ]);
}
