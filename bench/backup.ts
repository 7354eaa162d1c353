/**
 * npm run bench:backup [-- --rows 2000000]
 *
 * Generates a ~1 GB database on a throwaway server built from a stack, then runs the rendered backup and
 * restore scripts against it and a local S3 API (s3rver, Debian's aws CLI): seconds for dump, upload,
 * download (fetch.sh) and restore (restore.sh, one job), and pg_restore with -j 2 against -j 1 on the same
 * dump, as a ratio. One run; the machine is noisy, so compare within it.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { S3Server, runScript } from "../tools/local/s3";
import { startStackServer } from "../tools/local/stackServer";
import { PgServer } from "../tools/pg/server";
import { planFromValues } from "../tools/plan";
import { renderedFiles } from "../tools/local/stackServer";
import { renderInitSql } from "../tools/sql/initSql";

const rows = (() => {
    const i = process.argv.indexOf("--rows");
    return i >= 0 ? Number(process.argv[i + 1]) : 2_000_000;
})();

async function timed<T>(label: string, f: () => Promise<T>): Promise<[number, T]> {
    const t0 = performance.now();
    const v = await f();
    const s = (performance.now() - t0) / 1000;
    console.log(`${label.padEnd(40)} ${s.toFixed(1).padStart(7)} s`);
    return [s, v];
}

async function ok(r: Promise<{ status: number; stderr: string }>): Promise<void> {
    const x = await r;
    if (x.status !== 0) {
        throw new Error(x.stderr);
    }
}

async function bench(): Promise<void> {
    const plan = await planFromValues("bench-backup", { environment: "prod", clusterName: "bench", monitoringEnabled: false, services: ["big"] });
    const scripts = (plan.plan.resources.find((r) => r.name === "hanzo-sql-backups-scripts")!.inputs as { data: Record<string, string> }).data;
    const s = await startStackServer(plan);
    const s3 = await S3Server.start("bench-backups");
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-bench-backup-"));
    const fresh = await PgServer.start(renderedFiles(plan));
    try {
        fresh.psql(renderInitSql(plan.plan, { passwords: "env", env: s.passwordEnv }));
        s.server.psql(
            `CREATE TABLE docs (id bigint PRIMARY KEY, owner uuid NOT NULL, body text NOT NULL, created timestamptz NOT NULL);
             INSERT INTO docs SELECT i, md5(i::text)::uuid, ${Array.from({ length: 14 }, (_, k) => `md5((i * 14 + ${k})::text)`).join(" || ")}, timestamptz '2026-01-01' + i * interval '1 second'
               FROM generate_series(1, ${rows}) i;
             CREATE INDEX docs_owner ON docs (owner);
             ALTER TABLE docs OWNER TO big_user;`,
            {},
            "big",
        );
        const size = s.server.psql("\\pset tuples_only on\nSELECT pg_size_pretty(pg_database_size('big'))", {}, "big").trim();
        console.log(`database "big": ${size}, ${rows} rows`);
        const dumpEnv = { PGHOST: "127.0.0.1", PGPORT: String(s.server.port), PGUSER: "hanzo_backup", PGPASSWORD: s.passwords.hanzo_backup, BACKUP_DIR: path.join(work, "out"), BACKUP_TIMESTAMP: "bench" };
        await timed("dump (dump.sh: pg_dump -Fc, check)", () => ok(runScript(scripts["dump.sh"], dumpEnv)));
        const dumpFile = path.join(work, "out", "bench", "big.dump");
        console.log(`dump file: ${(fs.statSync(dumpFile).size / 2 ** 20).toFixed(0)} MiB`);
        await timed("upload (upload.sh)", () => ok(runScript(scripts["upload.sh"], { ...s3.env("postgres"), BACKUP_DIR: path.join(work, "out") })));
        const fetched = path.join(work, "fetched");
        await timed("download (fetch.sh, checksums)", () => ok(runScript(scripts["fetch.sh"], s3.env("postgres"), ["latest", fetched])));
        const adminEnv = { PGHOST: "127.0.0.1", PGPORT: String(fresh.port), PGUSER: "hanzo", PGPASSWORD: fresh.adminPassword };
        await timed("restore (restore.sh, one job)", () => ok(runScript(scripts["restore.sh"], adminEnv, [fetched])));
        // The same dump with pg_restore alone, one job against two (restore.sh runs one transaction, which -j cannot).
        const list = path.join(fetched, "big.list");
        const restore = (jobs: number) => `set -euo pipefail
pg_restore --clean --if-exists --no-owner --role=big_user --exit-on-error -j ${jobs} --use-list="${list}" --dbname=big "${path.join(fetched, "big.dump")}"`;
        const [one] = await timed("pg_restore -j 1", () => ok(runScript(restore(1), adminEnv)));
        const [two] = await timed("pg_restore -j 2", () => ok(runScript(restore(2), adminEnv)));
        console.log(`parallel restore speed-up (-j 2 vs -j 1): ${(one / two).toFixed(2)}×`);
    } finally {
        fresh.stop();
        s.server.stop();
        await s3.stop();
        fs.rmSync(work, { recursive: true, force: true });
    }
}

bench().catch((e) => {
    console.error(e);
    process.exitCode = 1;
});
