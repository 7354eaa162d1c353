/**
 * npm run bench:backup [-- --rows 330000]
 *
 * A stack of 6 databases of ~150 MB each on a throwaway server built from a stack, dumped and restored with
 * the rendered scripts (dump.sh, upload.sh, fetch.sh, restore.sh) against a local S3 API (s3rver, Debian's
 * aws CLI); then the same dumps and restores sequential against two databases at a time (this machine's
 * 2 cores), and pg_restore -j 2 against -j 1 on one database. Prints seconds and the ratios, all from one
 * run (the machine is shared: compare within a run, not across runs).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { roleNameFor } from "../policies/standard/rules";
import { Command, Flag, integerFlag, runCommand } from "../cli/cli";
import { S3Server, runScript, runScriptFile } from "../test/harness/local/s3";
import { startStackServer } from "../test/harness/local/stackServer";
import { PgServer } from "../test/harness/pg/server";
import { planFromValues } from "../cli/plan";
import { renderedFiles } from "../test/harness/local/stackServer";
import { renderInitSql } from "../cli/sql/initSql";

/** The bench's command line (`npm run bench:backup -- --help` prints it). */
export const COMMAND = {
    name: "npm run bench:backup --",
    summary:
        "Dumps, uploads, downloads and restores 6 generated databases through the rendered backup scripts against a local S3 API, " +
        "sequential and two at a time, and pg_restore -j 2 against -j 1; prints seconds and the ratios of one run.",
    flags: { rows: { type: "string", value: "<n>", description: "rows per database (default 330000: ~150 MB each)" } },
} as const satisfies Command<Record<string, Flag>>;
const DATABASES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

async function timed<T>(label: string, f: () => Promise<T>): Promise<number> {
    const t0 = performance.now();
    await f();
    const s = (performance.now() - t0) / 1000;
    console.log(`${label.padEnd(58)} ${s.toFixed(1).padStart(7)} s`);
    return s;
}

async function ok(r: Promise<{ status: number; stdout: string; stderr: string }>): Promise<void> {
    const x = await r;
    if (x.status !== 0) {
        throw new Error(x.stdout + x.stderr);
    }
}

/** Runs one shell command per database, `jobs` at a time (xargs -P), failing if any fails. */
function each(jobs: number, command: string, env: Record<string, string>): Promise<void> {
    return ok(runScript(`set -euo pipefail\nprintf '%s\\n' ${DATABASES.join(" ")} | xargs -P ${jobs} -I{} bash -c '${command}'`, env));
}

async function bench(rows: number): Promise<void> {
    const plan = await planFromValues("bench-backup", {
        environment: "prod",
        clusterName: "bench",
        monitoringEnabled: false,
        services: DATABASES,
    });
    const files = (plan.plan.resources.find((r) => r.name === "hanzo-sql-backups-scripts")!.inputs as { data: Record<string, string> })
        .data;
    const s = await startStackServer(plan);
    const s3 = await S3Server.start("bench-backups");
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-bench-backup-"));
    const fresh = await PgServer.start(renderedFiles(plan));
    try {
        fresh.psql(renderInitSql(plan.plan, { passwords: "env", env: s.passwordEnv }));
        for (const db of DATABASES) {
            s.server.psql(
                `CREATE TABLE docs (id bigint PRIMARY KEY, owner uuid NOT NULL, body text NOT NULL, created timestamptz NOT NULL);
                 INSERT INTO docs SELECT i, md5(i::text)::uuid, ${Array.from({ length: 10 }, (_, k) => `md5((i * 10 + ${k})::text)`).join(" || ")}, timestamptz '2026-01-01' + i * interval '1 second'
                   FROM generate_series(1, ${rows}) i;
                 CREATE INDEX docs_owner ON docs (owner);
                 ALTER TABLE docs OWNER TO ${roleNameFor(db)};`,
                {},
                db,
            );
        }
        const size = s.server
            .psql(
                `\\pset tuples_only on\nSELECT pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database WHERE datname IN (${DATABASES.map((d) => `'${d}'`).join(", ")})`,
                {},
                "postgres",
            )
            .trim();
        console.log(`${DATABASES.length} databases, ${rows} rows each, ${size} in all`);
        const dumpEnv = {
            PGHOST: "127.0.0.1",
            PGPORT: String(s.server.port),
            PGUSER: "hanzo_backup",
            PGPASSWORD: s.passwords.hanzo_backup,
        };
        const adminEnv = { PGHOST: "127.0.0.1", PGPORT: String(fresh.port), PGUSER: "hanzo", PGPASSWORD: fresh.adminPassword };
        const out = path.join(work, "out");

        await timed("dump.sh (pg_dump -Fc, check, count rows; sequential)", () =>
            ok(runScriptFile(files, "dump.sh", { ...dumpEnv, BACKUP_DIR: out, BACKUP_TIMESTAMP: "bench" })),
        );
        const dumpBytes = DATABASES.reduce((n, db) => n + fs.statSync(path.join(out, "bench", `${db}.dump`)).size, 0);
        console.log(`dumps: ${(dumpBytes / 2 ** 20).toFixed(0)} MiB`);
        await timed("upload.sh (and prune.sh)", () => ok(runScriptFile(files, "upload.sh", { ...s3.env("postgres"), BACKUP_DIR: out })));
        const fetched = path.join(work, "fetched");
        await timed("fetch.sh latest (download, checksums)", () =>
            ok(runScriptFile(files, "fetch.sh", s3.env("postgres"), ["latest", fetched])),
        );
        await timed("restore.sh, all databases, into empty databases", () => ok(runScriptFile(files, "restore.sh", adminEnv, [fetched])));
        // The comparisons below all restore over restored data (--clean drops it first), so they compare alike.
        const restoreSeq = await timed("restore.sh, one database at a time (over restored data)", () =>
            ok(runScriptFile(files, "restore.sh", adminEnv, [fetched])),
        );

        // Across databases: the same work one database at a time against two at a time.
        const raw = path.join(work, "raw");
        fs.mkdirSync(raw);
        const dumpOne = `pg_dump -Fc --no-owner --no-acl --dbname={} --file=${raw}/{}.dump`;
        const dumpSeq = await timed("pg_dump of the 6 databases, one at a time", () => each(1, dumpOne, dumpEnv));
        const dumpPar = await timed("pg_dump of the 6 databases, two at a time", () => each(2, dumpOne, dumpEnv));
        const scriptsDir = fs.mkdtempSync(path.join(work, "scripts-"));
        for (const [f, text] of Object.entries(files)) {
            fs.writeFileSync(path.join(scriptsDir, f), text);
        }
        const restorePar = await timed("restore.sh, two databases at a time (over restored data)", () =>
            each(2, `bash ${scriptsDir}/restore.sh ${fetched} {} > /dev/null`, adminEnv),
        );

        // One database: pg_restore -j (which cannot run in one transaction, as restore.sh does).
        const list = path.join(fetched, "alpha.list");
        const restoreJ = (jobs: number) => `set -euo pipefail
pg_restore --clean --if-exists --no-owner --role=alpha_user --exit-on-error -j ${jobs} --use-list="${list}" --dbname=alpha "${path.join(fetched, "alpha.dump")}"`;
        const one = await timed("pg_restore -j 1, one database", () => ok(runScript(restoreJ(1), adminEnv)));
        const two = await timed("pg_restore -j 2, one database", () => ok(runScript(restoreJ(2), adminEnv)));

        console.log("");
        console.log(`dump across databases, two at a time vs one:    ${(dumpSeq / dumpPar).toFixed(2)}× faster`);
        console.log(`restore across databases, two at a time vs one: ${(restoreSeq / restorePar).toFixed(2)}× faster`);
        console.log(`pg_restore -j 2 vs -j 1 on one database:        ${(one / two).toFixed(2)}× faster`);
    } finally {
        fresh.stop();
        s.server.stop();
        await s3.stop();
        fs.rmSync(work, { recursive: true, force: true });
    }
}

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:backup failed", code: 1, trace: true }, ({ values }) =>
        bench(integerFlag("rows", values.rows, 330_000)),
    );
}
