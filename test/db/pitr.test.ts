/**
 * Continuous archiving and point-in-time recovery on a real server (issue 23): PostgreSQL 15 with the
 * rendered postgresql.conf (archive settings included), pgBackRest 2.45 from Debian with the rendered
 * pgbackrest.conf, and s3rver over TLS (pgBackRest speaks S3 over TLS only) with a certificate openssl makes
 * now, which pgBackRest verifies (repo1-storage-ca-file). The S3 key reaches pgBackRest through its env
 * variables only, as in the pod. Expiry is asserted through `pgbackrest info` (s3rver leaks objects after
 * deletes, ENVIRONMENT.md), with the engine's clock moved ahead by faketime.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PgServer } from "../harness/pg/server";
import { S3Server } from "../harness/local/s3";
import { renderPostgresqlConf } from "../../policies/standard/postgresqlConf";
import { hbaRules, renderPgHba } from "../../policies/standard/pgHba";
import { serverSettings } from "../../policies/standard/settings";
import { ADMIN } from "../harness/pg/server";
import {
    PGBACKREST_KEY_ENV,
    PITR_STANZA,
    PitrSpec,
    RecoveryTarget,
    archiveSettings,
    renderBackupPgbackrestConf,
    renderServerPgbackrestConf,
    restoreArgs,
} from "../../render/pitr";

const GiB = 2 ** 30;

interface Info {
    backup: { label: string; type: string; archive: { start: string; stop: string } }[];
    archive: { max: string | null; min: string | null }[];
}

describe("point-in-time recovery with pgBackRest (real server, S3 over TLS)", function () {
    this.timeout(600_000);
    let s3: S3Server;
    let server: PgServer;
    let work: string;
    let spec: PitrSpec;
    let files: { postgresqlConf: string; pgHba: string };
    const savedEnv = { ...process.env };

    /** pgbackrest as the postgres OS user with the given config (the server's by default). */
    function pgbackrest(args: string[], opts: { config?: string; faketime?: string } = {}): string {
        const argv = [`--config=${opts.config ?? path.join(work, "pgbackrest.conf")}`, `--stanza=${PITR_STANZA}`, ...args];
        const cmd = opts.faketime ? ["faketime", "-f", opts.faketime, "pgbackrest", ...argv] : ["pgbackrest", ...argv];
        const r = server.runAsPostgres(cmd[0], cmd.slice(1));
        if (r.status !== 0) {
            throw new Error(`pgbackrest ${args.join(" ")} exited ${r.status}: ${r.stdout}${r.stderr}`);
        }
        return r.stdout;
    }
    const info = (): Info => (JSON.parse(pgbackrest(["info", "--output=json"])) as Info[])[0];
    const one = async <T>(srv: PgServer, sql: string): Promise<T> => {
        const c = await srv.admin();
        try {
            return (await c.query(sql)).rows[0] as T;
        } finally {
            await c.end();
        }
    };
    const exec = async (sql: string) => {
        const c = await server.admin();
        try {
            await c.query(sql);
        } finally {
            await c.end();
        }
    };
    /** Inserts rows from..to, one transaction each (each is a commit a target may fall between). */
    const insert = async (from: number, to: number) => {
        const c = await server.admin();
        try {
            for (let i = from; i <= to; i++) {
                await c.query("INSERT INTO ledger (id) VALUES ($1)", [i]);
            }
        } finally {
            await c.end();
        }
    };
    /** Switches to a new segment and waits (bounded) until the one just closed is archived. */
    const switchAndArchive = async (): Promise<string> => {
        const { seg } = await one<{ seg: string }>(server, "SELECT pg_walfile_name(pg_switch_wal()) AS seg");
        for (let i = 0; i < 600; i++) {
            const { last } = await one<{ last: string | null }>(server, "SELECT last_archived_wal AS last FROM pg_stat_archiver");
            if (last !== null && last >= seg) {
                return seg;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`segment ${seg} was not archived within 120 s`);
    };
    /** Restores the archive into a fresh scratch server (no archiving of its own) and returns the ids it has. */
    const restoreTo = async (target: RecoveryTarget): Promise<number[]> => {
        const scratch = await PgServer.start(files, archiveOff, {
            populate: {
                adminPassword: server.adminPassword,
                run: (dataDir) => {
                    pgbackrest(restoreArgs(target, { pgdata: dataDir, archive: false }));
                },
            },
        });
        try {
            // Recovery ends (the target reached and promoted, or the archive's end) before it takes writes.
            for (let i = 0; i < 600; i++) {
                const { rec } = await one<{ rec: boolean }>(scratch, "SELECT pg_is_in_recovery() AS rec");
                if (!rec) {
                    break;
                }
                await new Promise((r) => setTimeout(r, 200));
            }
            assert.strictEqual((await one<{ rec: boolean }>(scratch, "SELECT pg_is_in_recovery() AS rec")).rec, false);
            const c = await scratch.admin();
            try {
                return (await c.query("SELECT id FROM ledger ORDER BY id")).rows.map((r) => Number(r.id));
            } finally {
                await c.end();
            }
        } finally {
            scratch.stop();
        }
    };
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    /** A scratch server must not archive into the source's stanza (restoreArgs also writes archive_mode=off). */
    const archiveOff = { archive_mode: "off" };

    before(async () => {
        s3 = await S3Server.start("pitr", "127.0.0.1", { tls: true });
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pitr-"));
        fs.chmodSync(work, 0o755);
        fs.mkdirSync(path.join(work, "spool"));
        spawnSync("chown", ["postgres:postgres", path.join(work, "spool")]);
        // The bucket's key and secret as the pod gets them: env from the backup Secret, never in a file.
        process.env[PGBACKREST_KEY_ENV.key] = "S3RVER";
        process.env[PGBACKREST_KEY_ENV.secret] = "S3RVER";
        const specFor = (pgdata: string, socketPath: string, port: number): PitrSpec => ({
            repo: { endpoint: s3.endpoint, region: "us-east-1", bucket: s3.bucket, prefix: "/pitr", uriStyle: "path", caFile: s3.certFile },
            retentionDays: 1,
            pgdata,
            socketPath,
            port,
            user: ADMIN,
            spoolPath: path.join(work, "spool"),
            archiveTimeoutSeconds: 60,
            archiveQueueMaxBytes: 4 * GiB,
            processMax: 2,
            configPath: path.join(work, "pgbackrest.conf"),
        });
        // archive_command names only the config file, so the server can start before its PGDATA is known.
        const placeholder = specFor("/placeholder", "/placeholder", 5432);
        files = {
            postgresqlConf: renderPostgresqlConf(GiB, serverSettings(GiB, undefined, archiveSettings(placeholder))),
            pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])),
        };
        server = await PgServer.start(files);
        spec = specFor(server.dataDir, server.socketDir, server.port);
        fs.writeFileSync(path.join(work, "pgbackrest.conf"), renderServerPgbackrestConf(spec));
        fs.writeFileSync(path.join(work, "backup.conf"), renderBackupPgbackrestConf(spec));
        // stanza-create takes the lock an archive-push of the server may hold (error 050): the backup Job
        // retries it the same way before each backup (it is idempotent).
        for (let i = 0; ; i++) {
            try {
                pgbackrest(["stanza-create"]);
                break;
            } catch (e) {
                if (i >= 20 || !/\[050\]/.test((e as Error).message)) {
                    throw e;
                }
                await new Promise((r) => setTimeout(r, 500));
            }
        }
        await exec("CREATE TABLE ledger (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    });

    after(async () => {
        server?.stop();
        await s3?.stop();
        if (work) {
            fs.rmSync(work, { recursive: true, force: true });
        }
        for (const k of Object.values(PGBACKREST_KEY_ENV)) {
            if (savedEnv[k] === undefined) delete process.env[k];
            else process.env[k] = savedEnv[k];
        }
    });

    it("renders archiving into postgresql.conf and neither config file holds the key", () => {
        for (const [k, v] of Object.entries({
            archive_mode: "on",
            archive_timeout: "1min",
            max_slot_wal_keep_size: "4GB",
        })) {
            const r = server.runAsPostgres("psql", [
                "-XAtq",
                "-h",
                server.socketDir,
                "-p",
                String(server.port),
                "-U",
                ADMIN,
                "-c",
                `SHOW ${k}`,
                "postgres",
            ]);
            assert.strictEqual(r.stdout.trim(), v, k);
        }
        for (const f of ["pgbackrest.conf", "backup.conf"]) {
            const text = fs.readFileSync(path.join(work, f), "utf8");
            assert.ok(!/s3-key/.test(text) && !text.includes("S3RVER"), `${f} holds no key`);
        }
    });

    it("archives WAL under writes once the stanza exists (async push, verified TLS)", async () => {
        pgbackrest(["check"]);
        const { failed } = await one<{ failed: number }>(server, "SELECT failed_count::int AS failed FROM pg_stat_archiver");
        await insert(1, 20);
        const seg = await switchAndArchive();
        const archived = info().archive[0];
        assert.ok(archived.max !== null && archived.max >= seg, `archive max ${archived.max} covers ${seg}`);
        const after = await one<{ failed: number }>(server, "SELECT failed_count::int AS failed FROM pg_stat_archiver");
        assert.strictEqual(after.failed, failed, "no archive_command failed once the stanza existed");
    });

    it("takes full, differential and incremental backups from the backup Job's config", async () => {
        const backup = (type: string) => pgbackrest(["backup", `--type=${type}`], { config: path.join(work, "backup.conf") });
        backup("full");
        await insert(21, 30);
        backup("incr");
        await insert(31, 40);
        backup("diff");
        assert.deepStrictEqual(
            info().backup.map((b) => b.type),
            ["full", "incr", "diff"],
        );
    });

    it("restores to a time: every row committed before it, none after", async () => {
        await insert(41, 60);
        const { t } = await one<{ t: string }>(
            server,
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t",
        );
        await insert(61, 80);
        await switchAndArchive();
        assert.deepStrictEqual(await restoreTo({ type: "time", time: t }), range(1, 60));
    });

    it("restores to a named restore point", async () => {
        await insert(81, 90);
        await exec("SELECT pg_create_restore_point('before-91')");
        await insert(91, 100);
        await switchAndArchive();
        assert.deepStrictEqual(await restoreTo({ type: "name", name: "before-91" }), range(1, 90));
    });

    it("restores to an LSN", async () => {
        await insert(101, 105);
        const { lsn } = await one<{ lsn: string }>(server, "SELECT pg_current_wal_insert_lsn()::text AS lsn");
        await insert(106, 110);
        await switchAndArchive();
        assert.deepStrictEqual(await restoreTo({ type: "lsn", lsn }), range(1, 105));
    });

    it("restores to the end of the archive", async () => {
        await insert(111, 120);
        await switchAndArchive();
        assert.deepStrictEqual(await restoreTo({ type: "end" }), range(1, 120));
    });

    it("expires by the engine's time retention: nothing while the newest full is young, older backups once it is past the days", async () => {
        const conf = { config: path.join(work, "backup.conf") };
        pgbackrest(["backup", "--type=full"], conf);
        const labels = info().backup.map((b) => b.label);
        assert.strictEqual(labels.length, 4);
        // Today nothing is past pitrRetentionDays = 1: every backup stays (a restore to any point of the last day).
        pgbackrest(["expire"], conf);
        assert.deepStrictEqual(
            info().backup.map((b) => b.label),
            labels,
        );
        // Two days on (the engine's clock only; the S3 certificate is valid for 30 days), the first full and its diff/incr are no longer needed.
        // The bucket's clock moves with it (S3 refuses requests signed more than 15 minutes off its own time).
        await s3.pause();
        await s3.resume({ clockOffset: "+2d" });
        try {
            pgbackrest(["expire"], { ...conf, faketime: "+2d" });
        } finally {
            await s3.pause();
            await s3.resume();
        }
        const kept = info();
        assert.deepStrictEqual(
            kept.backup.map((b) => b.label),
            [labels[3]],
        );
        assert.strictEqual(kept.archive[0].min, kept.backup[0].archive.start, "WAL before the kept backup expired with it");
        // And the archive still restores to its end from the kept backup.
        await insert(121, 125);
        await switchAndArchive();
        assert.deepStrictEqual(await restoreTo({ type: "end" }), range(1, 125));
    });

    it("S3 down under writes: archive failures rise, pg_wal grows; S3 back: the backlog drains", async () => {
        const walFiles = () => fs.readdirSync(path.join(server.dataDir, "pg_wal")).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;
        const ready = () =>
            fs.readdirSync(path.join(server.dataDir, "pg_wal", "archive_status")).filter((f) => f.endsWith(".ready")).length;
        const stat = () =>
            one<{ failed: number; last: string }>(
                server,
                "SELECT failed_count::int AS failed, last_archived_wal AS last FROM pg_stat_archiver",
            );
        const before = await stat();
        const walBefore = walFiles();
        await s3.pause();
        const c = await server.admin();
        let lastSeg = "";
        try {
            for (let i = 0; i < 8; i++) {
                await c.query("INSERT INTO ledger (id) SELECT g FROM generate_series($1::int, $1::int + 999) g", [1000 + i * 1000]);
                lastSeg = (await c.query("SELECT pg_walfile_name(pg_switch_wal()) AS seg")).rows[0].seg;
            }
        } finally {
            await c.end();
        }
        // Bounded wait for PostgreSQL to report a failed archive_command (pgBackRest's archive-timeout is 30 s).
        let during = await stat();
        for (let i = 0; i < 600 && during.failed <= before.failed; i++) {
            await new Promise((r) => setTimeout(r, 200));
            during = await stat();
        }
        assert.ok(during.failed > before.failed, `failed_count rose (${before.failed} → ${during.failed})`);
        assert.ok(during.last < lastSeg, "the segments written while S3 was down are not archived");
        assert.ok(ready() >= 1, "segments wait in pg_wal/archive_status as .ready");
        assert.ok(walFiles() > walBefore, `pg_wal grew (${walBefore} → ${walFiles()} segments)`);

        await s3.resume();
        let after = await stat();
        for (let i = 0; i < 1200 && (after.last === null || after.last < lastSeg); i++) {
            await new Promise((r) => setTimeout(r, 200));
            after = await stat();
        }
        assert.ok(after.last >= lastSeg, `the backlog drained up to ${lastSeg} (last archived ${after.last})`);
        assert.strictEqual(ready(), 0);
        assert.ok((info().archive[0].max ?? "") >= lastSeg);
    });
});
