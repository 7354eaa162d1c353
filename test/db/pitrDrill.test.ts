/**
 * The WAL archive's restore drill (render/scripts/pitr-drill.sh, docs/pitr.md "The drill") on a real server:
 * PostgreSQL 15 archiving with the rendered pgBackRest configuration into s3rver over TLS (PitrRig), the
 * drill's rendered pgbackrest.conf and the ConfigMap's files exactly as renderBackupScripts renders them, run
 * as the postgres OS user with the backup role's credentials, as the drill pod runs it. Then the real
 * exporter reads its result and restore time with the rendered query file.
 */
import * as assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { PitrRig } from "../harness/local/pitr";
import { freePort } from "../harness/pg/server";
import { runScriptFile } from "../harness/local/s3";
import { PITR_DRILL_FILES, renderBackupMetricsQueries, renderBackupScripts, renderRestoreMetricsQueries } from "../../render/backup";
import { PGBACKREST_KEY_ENV, renderRestorePgbackrestConf } from "../../render/pitr";

const EXPORTER = "/usr/bin/prometheus-postgres-exporter";
const BACKUP_PASSWORD = "drill-backup-pw-7f3a";
const MONITOR_PASSWORD = "drill-monitor-pw-91c2";

function get(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
        http.get(url, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve(body));
        }).on("error", reject);
    });
}

describe("the WAL archive's restore drill (pitr-drill.sh, real server, S3 over TLS)", function () {
    this.timeout(600_000);
    let rig: PitrRig;
    let files: Record<string, string>;
    const postgres = () => {
        const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
        return { uid: id("-u"), gid: id("-g") };
    };
    // A directory of the postgres OS user's, as the pod's /tmp volume is the drill's.
    const home = () => path.join(rig.work, "drill");
    const scratch = () => path.join(home(), "scratch");
    const env = (extra: Record<string, string> = {}) => ({
        PGHOST: "127.0.0.1",
        PGPORT: String(rig.server.port),
        PGUSER: "hanzo_backup",
        PGPASSWORD: BACKUP_PASSWORD,
        [PGBACKREST_KEY_ENV.key]: process.env[PGBACKREST_KEY_ENV.key]!,
        [PGBACKREST_KEY_ENV.secret]: process.env[PGBACKREST_KEY_ENV.secret]!,
        SCRATCH_DIR: scratch(),
        PITR_CONFIG: path.join(rig.work, "drill.conf"),
        PITR_WAIT_SECONDS: "120",
        ...extra,
    });
    const status = () =>
        rig.one<{ ok: boolean; seconds: number | null; succeeded: boolean }>(
            "SELECT ok, duration_seconds AS seconds, last_success IS NOT NULL AS succeeded FROM hanzo_backup.status WHERE kind = 'pitr' AND database = 'all'",
        );
    const markers = () =>
        rig
            .one<{ m: string }>("SELECT string_agg(phase, ' ' ORDER BY at, phase) AS m FROM hanzo_backup.pitr_drill_marker")
            .then((r) => r.m);

    before(async () => {
        // archive_timeout 10 s: the drill waits for the segment holding its "after" marker to be archived.
        rig = await PitrRig.start({ archiveTimeoutSeconds: 10 });
        // The backup and monitoring roles as the program makes them (components/roles.ts, the backup schema).
        rig.server.psql(`
            CREATE ROLE hanzo_backup LOGIN PASSWORD '${BACKUP_PASSWORD}' IN ROLE pg_read_all_data;
            CREATE SCHEMA hanzo_backup AUTHORIZATION hanzo_backup;
            CREATE ROLE hanzo_monitor LOGIN PASSWORD '${MONITOR_PASSWORD}' IN ROLE pg_monitor;
            CREATE TABLE ledger (id int PRIMARY KEY);
            INSERT INTO ledger SELECT generate_series(1, 1000);
        `);
        rig.pgbackrest(["backup", "--type=full"], { job: true });
        // WAL after the base backup, which the drill must replay.
        rig.server.psql("INSERT INTO ledger SELECT generate_series(1001, 2000);");
        fs.mkdirSync(home());
        spawnSync("chown", ["postgres:postgres", home()]);
        const conf = renderRestorePgbackrestConf(rig.spec, { pgdata: path.join(scratch(), "data"), spoolPath: path.join(home(), "spool") });
        fs.writeFileSync(path.join(rig.work, "drill.conf"), conf);
        files = renderBackupScripts({ databases: [], defaultRetentionDays: 30, pitrDrillConf: conf });
    });

    after(async () => {
        await rig?.stop();
    });

    it("the ConfigMap carries the script and the drill's pgbackrest.conf only when the stack archives", () => {
        assert.deepStrictEqual(
            Object.keys(files).filter((f) => f.includes("pitr") || f.includes("pgbackrest")),
            [PITR_DRILL_FILES.script, PITR_DRILL_FILES.conf],
        );
        const without = renderBackupScripts({ databases: [], defaultRetentionDays: 30 });
        assert.deepStrictEqual(
            Object.keys(without).filter((f) => f.includes("pitr") || f.includes("pgbackrest")),
            [],
        );
        assert.ok(!/s3-key/.test(files[PITR_DRILL_FILES.conf]) && !files[PITR_DRILL_FILES.conf].includes("S3RVER"), "no key in the file");
    });

    it("its script passes shellcheck, as the ConfigMap carries it", () => {
        const dir = fs.mkdtempSync(path.join(rig.work, "shellcheck-"));
        for (const [f, text] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, f), text);
        }
        const r = spawnSync(
            "shellcheck",
            ["--external-sources", "--source-path=SCRIPTDIR", "--severity=style", PITR_DRILL_FILES.script, "drill.sh", "report.sh"],
            { cwd: dir, encoding: "utf8" },
        );
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
    });

    it("restores the latest base backup plus WAL to its target: the marker before it there, the one after not; records ok and the RTO", async () => {
        const r = await runScriptFile(files, PITR_DRILL_FILES.script, env(), [], postgres());
        assert.strictEqual(r.status, 0, r.stderr);
        const m = /restored to ([0-9A-F]+\/[0-9A-F]+) in ([0-9.]+)s; the marker before the target is there, the one after is not$/m.exec(
            r.stderr,
        );
        assert.ok(m, r.stderr);
        const s = await status();
        assert.deepStrictEqual({ ok: s.ok, succeeded: s.succeeded }, { ok: true, succeeded: true });
        assert.strictEqual(s.seconds, Number(m[2]));
        assert.ok((s.seconds ?? 0) > 0, String(s.seconds));
        // The real server has both markers: the "after" one is missing only from the restore.
        assert.strictEqual(await markers(), "before after");
        // The scratch directory is gone, and the scratch server archived nothing (no new timeline in the stanza).
        assert.strictEqual(fs.existsSync(scratch()), false);
        assert.deepStrictEqual(
            rig.s3.keys("pitr/archive").filter((k) => k.endsWith(".history")),
            [],
        );
    });

    it("means something: a restore to the archive's end instead of the target fails the check (the marker after it is there)", async () => {
        // The same script with its target left out (pgBackRest then restores to the end of the archive).
        const broken = files[PITR_DRILL_FILES.script].replace('--type=lsn --target="$target" --target-action=promote', "");
        assert.notStrictEqual(broken, files[PITR_DRILL_FILES.script]);
        const r = await runScriptFile({ ...files, [PITR_DRILL_FILES.script]: broken }, PITR_DRILL_FILES.script, env(), [], postgres());
        assert.strictEqual(r.status, 1, r.stderr);
        assert.match(r.stderr, /the markers before\/after the target number "1 1" \(expected "1 0"\)/);
        assert.match(r.stderr, /^pitr failed for: all \(check-failed\)$/m);
        const s = await status();
        assert.deepStrictEqual({ ok: s.ok, succeeded: s.succeeded }, { ok: false, succeeded: true });
    });

    it("fails, recorded, when the bucket is down (the target never reaches the archive); with PITR_RESULT it leaves the failure to the dump drill", async () => {
        const result = path.join(home(), "pitr-result");
        await rig.s3.pause();
        let r: Awaited<ReturnType<typeof runScriptFile>>;
        try {
            r = await runScriptFile(files, PITR_DRILL_FILES.script, env({ PITR_WAIT_SECONDS: "15", PITR_RESULT: result }), [], postgres());
        } finally {
            await rig.s3.resume();
        }
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stderr, /the segment holding the target was not archived within 15s/);
        assert.strictEqual(fs.readFileSync(result, "utf8"), "archive-stale\n");
        const s = await status();
        assert.deepStrictEqual({ ok: s.ok, seconds: s.seconds }, { ok: false, seconds: null });
        // The dump drill (drill.sh, here over a backup of no database) fails the Job on that result, after its
        // own report; without it, the same run succeeds.
        const fetched = path.join(rig.work, "fetched");
        fs.mkdirSync(fetched);
        fs.writeFileSync(path.join(fetched, "timestamp"), "run\n");
        fs.writeFileSync(path.join(fetched, "manifest.json"), '{"format": 2, "databases": []}\n');
        const dumpDrill = (extra: Record<string, string>) =>
            runScriptFile(files, "drill.sh", { ...env(), SCRATCH_DIR: path.join(home(), "dump-drill"), ...extra }, [fetched], postgres());
        const failed = await dumpDrill({ PITR_RESULT: result });
        assert.strictEqual(failed.status, 1, failed.stderr);
        assert.match(failed.stderr, /^the WAL archive's drill failed \(archive-stale\)$/m);
        const alone = await dumpDrill({});
        assert.strictEqual(alone.status, 0, alone.stderr);
    });

    it("the real exporter reads the result and the restore time with the rendered query file", async () => {
        // A successful run again, so the series carry its values.
        const r = await runScriptFile(files, PITR_DRILL_FILES.script, env(), [], postgres());
        assert.strictEqual(r.status, 0, r.stderr);
        const s = await status();
        const qfile = path.join(rig.work, "queries.yaml");
        fs.writeFileSync(qfile, renderBackupMetricsQueries() + renderRestoreMetricsQueries());
        const port = await freePort();
        const exporter: ChildProcess = spawn(EXPORTER, [`--web.listen-address=127.0.0.1:${port}`], {
            env: {
                DATA_SOURCE_URI: `127.0.0.1:${rig.server.port}/postgres?sslmode=disable`,
                DATA_SOURCE_USER: "hanzo_monitor",
                DATA_SOURCE_PASS: MONITOR_PASSWORD,
                PG_EXPORTER_EXTEND_QUERY_PATH: qfile,
            },
            stdio: "ignore",
        });
        try {
            let body = "";
            for (let i = 0; i < 50 && !/hanzo_backup_restore_seconds\{/.test(body); i++) {
                await new Promise((res) => setTimeout(res, 200));
                body = await get(`http://127.0.0.1:${port}/metrics`).catch(() => "");
            }
            const lines = body
                .split("\n")
                .filter((l) => /^hanzo_backup_(last_run_ok|restore_seconds)\{/.test(l))
                .sort();
            const server = `server="127.0.0.1:${rig.server.port}"`;
            assert.deepStrictEqual(lines, [
                `hanzo_backup_last_run_ok{database="all",kind="pitr",${server}} 1`,
                `hanzo_backup_restore_seconds{database="all",kind="pitr",${server}} ${s.seconds}`,
            ]);
        } finally {
            exporter.kill();
        }
    });
});
