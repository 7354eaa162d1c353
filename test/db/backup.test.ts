import * as assert from "assert";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { PG_BIN, PgServer, freePort } from "../harness/pg/server";
import { renderInitSql } from "../../cli/sql/initSql";
import { StackServer, renderedFiles, stackServer, tryConnect } from "../support/db";
import { TYPES, ofType, resource } from "../support/plan";
import { httpGet, startExporter } from "../support/exporter";
import { S3Server, ScriptRun, runScript, runScriptFile } from "../harness/local/s3";

const STACK = "hanzo-k8s";
const PREFIX = "postgres";

/** The files exactly as the stack's backup ConfigMap carries them. */
function scripts(s: StackServer): Record<string, string> {
    return (resource(s.plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as { data: Record<string, string> }).data;
}

/** Fills a service database with data of every common kind, as its own role. */
async function populate(c: Client, seed: number): Promise<void> {
    await c.query(
        `CREATE TABLE accounts (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, profile jsonb, avatar bytea, embedding vector(3), created timestamptz NOT NULL)`,
    );
    await c.query(
        `INSERT INTO accounts (email, profile, avatar, embedding, created)
         SELECT 'user' || i || '@hanzo.ai', jsonb_build_object('n', i, 'tags', array['a', md5(i::text)]), decode(md5((i * $1)::text), 'hex'),
                ('[' || i || ',' || (i * 2) || ',' || $1 || ']')::vector, timestamptz '2026-01-01' + i * interval '1 hour'
           FROM generate_series(1, 400) i`,
        [seed],
    );
    await c.query(
        `CREATE TABLE events (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), account bigint REFERENCES accounts(id), kind text)`,
    );
    await c.query(`INSERT INTO events (account, kind) SELECT 1 + i % 400, 'kind' || (i % 7) FROM generate_series(1, 900) i`);
    await c.query(`CREATE VIEW recent AS SELECT email FROM accounts WHERE created > timestamptz '2026-01-10'`);
    await c.query(`CREATE INDEX accounts_email_trgm ON accounts USING gin (email gin_trgm_ops)`);
}

/** What services do inside their own databases that pg_read_all_data alone cannot dump (STANDARD defect 18). */
const SERVICE_HABITS: Record<string, string> = {
    // Row-level security, as a multi-tenant service uses it (enabled and forced on its owner).
    iam: `CREATE TABLE tenant_secrets (tenant text NOT NULL, value text NOT NULL);
          INSERT INTO tenant_secrets SELECT 't' || (i % 5), md5(i::text) FROM generate_series(1, 250) i;
          ALTER TABLE tenant_secrets ENABLE ROW LEVEL SECURITY;
          CREATE POLICY tenant_only ON tenant_secrets USING (tenant = current_setting('app.tenant', true));`,
    // Large objects, as a service storing files in the database does.
    cloud: `CREATE TABLE files (name text PRIMARY KEY, blob oid NOT NULL);
            INSERT INTO files SELECT 'file' || i, lo_from_bytea(0, convert_to(repeat(md5(i::text), 200), 'UTF8')) FROM generate_series(1, 20) i;`,
    // Its own trusted extension, created by the service itself, in its own schema.
    console: `CREATE SCHEMA app;
              CREATE EXTENSION hstore SCHEMA app;
              CREATE TABLE app.settings (id int PRIMARY KEY, attrs app.hstore NOT NULL);
              INSERT INTO app.settings SELECT i, app.hstore('k' || i, 'v' || i) FROM generate_series(1, 300) i;`,
    // Partitioned tables.
    kms: `CREATE TABLE audit (at date NOT NULL, what text NOT NULL) PARTITION BY RANGE (at);
          CREATE TABLE audit_2026_01 PARTITION OF audit FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
          CREATE TABLE audit_2026_02 PARTITION OF audit FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
          INSERT INTO audit SELECT date '2026-01-01' + (i % 59), 'event ' || i FROM generate_series(1, 1000) i;`,
};

/** A checksum of every table in every schema of the service, every sequence's position, every large object. */
async function contents(c: Client): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const tables = await c.query(
        `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    for (const { t } of tables.rows) {
        out[t] = (
            await c.query(`SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`)
        ).rows[0].h;
    }
    for (const { sequencename, last_value } of (await c.query("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1")).rows) {
        out[`sequence ${sequencename}`] = String(last_value);
    }
    out["large objects"] = (
        await c.query(
            `SELECT count(*) || ':' || md5(coalesce(string_agg(md5(lo_get(oid)), '' ORDER BY md5(lo_get(oid))), '')) AS h FROM pg_largeobject_metadata`,
        )
    ).rows[0].h;
    return out;
}

/**
 * A TCP relay to the S3 server that goes down (closes every connection and refuses new ones) as soon as a
 * request line matching `cut` passes through it: an S3 outage in the middle of an upload.
 */
async function failingRelay(target: number, cut: RegExp): Promise<{ endpoint: string; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    let down = false;
    const server = net.createServer((client) => {
        if (down) {
            client.destroy();
            return;
        }
        const upstream = net.connect({ host: "127.0.0.1", port: target });
        for (const x of [client, upstream]) {
            sockets.add(x);
            x.on("error", () => undefined);
            x.on("close", () => sockets.delete(x));
        }
        client.on("data", (d: Buffer) => {
            if (down || cut.test(d.toString("latin1"))) {
                down = true;
                sockets.forEach((x) => x.destroy());
                return;
            }
            upstream.write(d);
        });
        upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        close: () => new Promise<void>((resolve) => (sockets.forEach((x) => x.destroy()), server.close(() => resolve()))),
    };
}

describe("backups and restore on real components (PostgreSQL, aws CLI, an S3 API that paginates)", function () {
    this.timeout(600_000);
    let s: StackServer;
    let s3: S3Server;
    let work: string;
    let files: Record<string, string>;
    let databases: { database: string; role: string }[];
    const original: Record<string, Record<string, string>> = {};
    let firstRun = "";

    const run = (name: string, env: Record<string, string>, args: string[] = []) => runScriptFile(files, name, env, args);
    const pgEnv = () => ({
        PGHOST: "127.0.0.1",
        PGPORT: String(s.server.port),
        PGUSER: "hanzo_backup",
        PGPASSWORD: s.passwords.hanzo_backup,
    });
    /** The backup pod: dump, then upload (and prune), then report; the run's status is the report's. */
    const backup = async (dir: string, extra: Record<string, string> = {}, s3env: Record<string, string> = s3.env(PREFIX)) => {
        const dump = await run("dump.sh", { ...pgEnv(), BACKUP_DIR: dir, ...extra });
        const upload = await run("upload.sh", { ...s3env, BACKUP_DIR: dir, ...extra });
        const report = await run("report.sh", { ...pgEnv(), BACKUP_DIR: dir });
        const id = fs.existsSync(path.join(dir, "ready")) ? fs.readFileSync(path.join(dir, "ready"), "utf8").trim() : "";
        return { dump, upload, report, id };
    };
    const manifestOf = (run: string, name = "manifest.json") => JSON.parse(s3.read(`${PREFIX}/${run}/${name}`).toString());
    const status = async (kind: string) =>
        Object.fromEntries(
            s.server
                .psql(
                    `\\pset tuples_only on\n\\pset format unaligned\nSELECT database || '=' || ok FROM hanzo_backup.status WHERE kind = '${kind}' ORDER BY 1`,
                    {},
                    "postgres",
                )
                .trim()
                .split("\n")
                .filter((l) => l)
                .map((l) => l.split("=")),
        );
    const restoreInto = async (fresh: PgServer, dir: string, args: string[] = []) =>
        run("restore.sh", { PGHOST: "127.0.0.1", PGPORT: String(fresh.port), PGUSER: "hanzo", PGPASSWORD: fresh.adminPassword }, [
            dir,
            ...args,
        ]);
    const freshServer = async () => {
        const fresh = await PgServer.start(renderedFiles(s.plan));
        fresh.psql(renderInitSql(s.plan.plan, { passwords: "env", env: s.passwordEnv }));
        return fresh;
    };

    before(async () => {
        s = await stackServer(STACK);
        s3 = await S3Server.start("hanzo-k8s-postgres-backups");
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-backup-"));
        files = scripts(s);
        databases = ofType(s.plan, TYPES.database).map((d) => ({ database: String(d.inputs.name), role: String(d.inputs.owner) }));
        for (const [i, { database, role }] of databases.entries()) {
            const c = (await tryConnect(s.server.tcp(role, s.passwords[role], database))) as Client;
            await populate(c, i + 1);
            if (SERVICE_HABITS[database]) {
                await c.query(SERVICE_HABITS[database]);
            }
            original[database] = await contents(c);
            await c.end();
        }
        assert.strictEqual(original.cloud["large objects"].split(":")[0], "20");
    });
    after(async () => {
        s?.server.stop();
        await s3?.stop();
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("the scripts pass shellcheck, as the ConfigMap carries them", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-shellcheck-"));
        for (const [f, text] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, f), text);
        }
        const r = spawnSync(
            "shellcheck",
            [
                "--external-sources",
                "--source-path=SCRIPTDIR",
                "--severity=style",
                ...Object.keys(files)
                    .filter((f) => f !== "stack.sh")
                    .sort(),
            ],
            { cwd: dir, encoding: "utf8" },
        );
        fs.rmSync(dir, { recursive: true });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
    });

    it("dumps every database whatever its service did in it (RLS, large objects, its own extension and schema, partitions), as the least-privilege role, with a JSON manifest", async () => {
        const r = await backup(path.join(work, "run1"));
        assert.strictEqual(r.dump.status, 0, r.dump.stderr);
        assert.strictEqual(r.upload.status, 0, r.upload.stderr);
        assert.strictEqual(r.report.status, 0, r.report.stderr);
        firstRun = r.id;
        assert.match(firstRun, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-[0-9a-f]{8}$/);
        const names = databases.map((d) => d.database);
        assert.deepStrictEqual(
            s3.keys(`${PREFIX}/${firstRun}/`),
            [...names.map((n) => `${PREFIX}/${firstRun}/${n}.dump`), `${PREFIX}/${firstRun}/manifest.json`].sort(),
        );
        const manifest = manifestOf(firstRun);
        assert.deepStrictEqual([manifest.format, manifest.timestamp, manifest.complete], [2, firstRun, true]);
        assert.deepStrictEqual(
            manifest.databases.map((d: { database: string; status: string }) => [d.database, d.status]),
            names.map((n) => [n, "ok"]),
        );
        for (const d of manifest.databases) {
            const bytes = s3.read(`${PREFIX}/${firstRun}/${d.file}`);
            assert.strictEqual(d.size, bytes.length);
            assert.strictEqual(d.sha256, createHash("sha256").update(bytes).digest("hex"));
        }
        // Rows per table, counted from the archive: every row, RLS or not, partitions leaf by leaf.
        const tables = (db: string) => manifest.databases.find((d: { database: string }) => d.database === db).tables;
        assert.deepStrictEqual(tables("iam"), { "public.accounts": 400, "public.events": 900, "public.tenant_secrets": 250 });
        assert.deepStrictEqual(tables("kms"), {
            "public.accounts": 400,
            "public.audit_2026_01": 526,
            "public.audit_2026_02": 474,
            "public.events": 900,
        });
        assert.deepStrictEqual(tables("console")["app.settings"], 300);
        assert.deepStrictEqual(await status("backup"), Object.fromEntries(names.map((n) => [n, "true"])));
    });

    it("restores every database of the latest backup into a fresh server, the service's own extension included, with every table's checksum equal", async () => {
        const fresh = await freshServer();
        try {
            const dir = path.join(work, "fetched");
            const fetched = await run("fetch.sh", s3.env(PREFIX), ["latest", dir]);
            assert.strictEqual(fetched.status, 0, fetched.stderr);
            assert.strictEqual(fs.readFileSync(path.join(dir, "timestamp"), "utf8").trim(), firstRun);
            const restored = await restoreInto(fresh, dir);
            assert.strictEqual(restored.status, 0, restored.stderr);
            assert.match(restored.stdout, /^restored 6 databases$/m);
            for (const { database, role } of databases) {
                const c = (await tryConnect(fresh.tcp(role, s.passwords[role], database))) as Client;
                try {
                    assert.deepStrictEqual(await contents(c), original[database], database);
                    const owners = (
                        await c.query(
                            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                        )
                    ).rows.map((r) => r.tableowner);
                    assert.deepStrictEqual(owners, [role]);
                    await c.query("ALTER TABLE accounts ADD COLUMN migrated boolean"); // the service's next migration still runs
                } finally {
                    await c.end();
                }
            }
            // The RLS policy and the service's extension came back as the service made them.
            const iam = (await tryConnect(fresh.tcp("iam_user", s.passwords.iam_user, "iam"))) as Client;
            assert.deepStrictEqual((await iam.query("SELECT relrowsecurity FROM pg_class WHERE relname = 'tenant_secrets'")).rows, [
                { relrowsecurity: true },
            ]);
            await iam.end();
            const console_ = (await tryConnect(fresh.tcp("console_user", s.passwords.console_user, "console"))) as Client;
            assert.deepStrictEqual(
                (
                    await console_.query(
                        "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'hstore'",
                    )
                ).rows,
                [{ extname: "hstore", nspname: "app" }],
            );
            await console_.end();
            // Restoring again over the restored data (--clean --if-exists) works and gives the same data.
            const again = await restoreInto(fresh, dir, ["console", "iam"]);
            assert.strictEqual(again.status, 0, again.stderr);
            const c = (await tryConnect(fresh.tcp("console_user", s.passwords.console_user, "console"))) as Client;
            assert.deepStrictEqual(await contents(c), original.console);
            await c.end();
        } finally {
            fresh.stop();
        }
    });

    it("gives the backup role reading, not writing: no table, no other role's schema", async () => {
        const c = (await tryConnect(s.server.tcp("hanzo_backup", s.passwords.hanzo_backup, "iam"))) as Client;
        try {
            // Its sessions resolve names in pg_catalog only (a role setting, issue 21): tables are named with their schema.
            assert.strictEqual((await c.query("SELECT count(*)::int AS n FROM public.tenant_secrets")).rows[0].n, 250);
            await assert.rejects(c.query("INSERT INTO public.accounts (email, created) VALUES ('x', now())"), { code: "42501" });
            await assert.rejects(c.query("DELETE FROM public.tenant_secrets"), { code: "42501" });
            await assert.rejects(c.query("CREATE TABLE public.t (i int)"), { code: "42501" });
        } finally {
            await c.end();
        }
    });

    it("dumps, uploads and records the other databases when one is gone; the run fails naming it; the exporter names it", async () => {
        s.server.psql("ALTER DATABASE platform RENAME TO platform_gone");
        let r: Awaited<ReturnType<typeof backup>>;
        try {
            r = await backup(path.join(work, "run-missing"));
        } finally {
            s.server.psql("ALTER DATABASE platform_gone RENAME TO platform");
        }
        assert.strictEqual(r.dump.status, 0, r.dump.stderr);
        assert.match(r.dump.stderr, /database "platform" does not exist/);
        assert.strictEqual(r.upload.status, 0, r.upload.stderr);
        assert.strictEqual(r.report.status, 1);
        assert.match(r.report.stderr, /^backup failed for: platform \(dump-failed\)$/m);
        const good = databases.map((d) => d.database).filter((d) => d !== "platform");
        assert.deepStrictEqual(
            s3.keys(`${PREFIX}/${r.id}/`),
            [...good.map((n) => `${PREFIX}/${r.id}/${n}.dump`), `${PREFIX}/${r.id}/manifest.partial.json`].sort(),
        );
        const manifest = manifestOf(r.id, "manifest.partial.json");
        assert.strictEqual(manifest.complete, false);
        assert.deepStrictEqual(
            manifest.databases.find((d: { database: string }) => d.database === "platform"),
            { database: "platform", status: "dump-failed" },
        );
        assert.deepStrictEqual(await status("backup"), { ...Object.fromEntries(good.map((n) => [n, "true"])), platform: "false" });

        // The latest complete backup is still the previous one; the partial run's good dumps restore by name.
        const latest = path.join(work, "latest-after-missing");
        assert.strictEqual((await run("fetch.sh", s3.env(PREFIX), ["latest", latest])).status, 0);
        assert.strictEqual(fs.readFileSync(path.join(latest, "timestamp"), "utf8").trim(), firstRun);
        const partial = path.join(work, "partial");
        const fetched = await run("fetch.sh", s3.env(PREFIX), [r.id, partial]);
        assert.strictEqual(fetched.status, 0, fetched.stderr);
        const fresh = await freshServer();
        try {
            const restored = await restoreInto(fresh, partial);
            assert.strictEqual(restored.status, 0, restored.stderr);
            assert.match(restored.stdout, /^restored 5 databases$/m);
            const c = (await tryConnect(fresh.tcp("kms_user", s.passwords.kms_user, "kms"))) as Client;
            assert.deepStrictEqual(await contents(c), original.kms);
            await c.end();
        } finally {
            fresh.stop();
        }

        // What Prometheus reads: the real exporter with the rendered query file, as the monitoring role.
        const sts = resource(s.plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        const sidecar = sts.spec.template.spec.containers.find((c: { name: string }) => c.name === "exporter");
        assert.deepStrictEqual(sidecar.env.at(-1), { name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: "/etc/postgres-exporter/queries.yaml" });
        const queries = (resource(s.plan, TYPES.configMap, "hanzo-sql-postgres-exporter-queries").inputs as any).data["queries.yaml"];
        const qfile = path.join(work, "queries.yaml");
        fs.writeFileSync(qfile, queries);
        const port = await freePort();
        const exporter = startExporter(port, s.server.port, "hanzo_monitor", s.passwords.hanzo_monitor, qfile);
        try {
            let body = "";
            for (let i = 0; i < 50 && !/hanzo_backup_last_run_ok/.test(body); i++) {
                await new Promise((res) => setTimeout(res, 200));
                body = await httpGet(`http://127.0.0.1:${port}/metrics`).then(
                    (r) => r.body,
                    () => "",
                );
            }
            const ok = body
                .split("\n")
                .filter((l) => l.startsWith("hanzo_backup_last_run_ok{"))
                .sort();
            assert.deepStrictEqual(
                ok,
                [
                    ...good.map((d) => `hanzo_backup_last_run_ok{database="${d}",kind="backup",server="127.0.0.1:${s.server.port}"} 1`),
                    `hanzo_backup_last_run_ok{database="platform",kind="backup",server="127.0.0.1:${s.server.port}"} 0`,
                ].sort(),
            );
            const success = body.split("\n").filter((l) => l.startsWith('hanzo_backup_last_success_timestamp_seconds{database="platform"'));
            assert.strictEqual(success.length, 1);
            assert.ok(Number(success[0].split(" ")[1]) > 1.7e9, success[0]); // from the first run: platform succeeded then
        } finally {
            exporter.kill();
        }
    });

    it("gives two runs in one second their own prefixes", async () => {
        // Both runs see the same second: `date` stopped at 05:00:00 (date -d still parses what it is given).
        const bin = fs.mkdtempSync(path.join(work, "stopped-clock-"));
        fs.writeFileSync(
            path.join(bin, "date"),
            `#!/bin/bash\nfor a in "$@"; do case "$a" in -d*|--date*) exec /bin/date "$@";; esac; done\nexec /bin/date -d 2026-11-23T05:00:00Z "$@"\n`,
            { mode: 0o755 },
        );
        const clock = { PATH: `${bin}:${PG_BIN}:/usr/bin:/bin` };
        const [a, b] = await Promise.all([
            backup(path.join(work, "same-second-a"), clock),
            backup(path.join(work, "same-second-b"), clock),
        ]);
        for (const r of [a, b]) {
            assert.strictEqual(r.report.status, 0, r.report.stderr + r.upload.stderr);
            assert.match(r.id, /^2026-11-23T05-00-00Z-[0-9a-f]{8}$/);
        }
        assert.notStrictEqual(a.id, b.id);
        for (const r of [a, b]) {
            assert.strictEqual(manifestOf(r.id).complete, true);
            assert.strictEqual(s3.keys(`${PREFIX}/${r.id}/`).length, databases.length + 1);
        }
    });

    it("keeps the previous complete backup the latest when S3 goes down in the middle of an upload", async () => {
        const before_ = path.join(work, "latest-before-outage");
        assert.strictEqual((await run("fetch.sh", s3.env(PREFIX), ["latest", before_])).status, 0);
        const previous = fs.readFileSync(path.join(before_, "timestamp"), "utf8").trim();
        const relay = await failingRelay(s3.port, /^PUT \/[^ ]*\/kms\.dump /m);
        try {
            const r = await backup(
                path.join(work, "outage"),
                { AWS_MAX_ATTEMPTS: "2" },
                { ...s3.env(PREFIX), S3_ENDPOINT: relay.endpoint },
            );
            assert.strictEqual(r.upload.status, 0, r.upload.stderr);
            assert.match(r.upload.stderr, /uploading kms failed: upload-failed/);
            assert.match(r.upload.stderr, /uploading the manifest failed/);
            assert.strictEqual(r.report.status, 1);
            assert.match(r.report.stderr, /^backup failed for: iam \(upload-failed\) .*kms \(upload-failed\)/m);
            assert.deepStrictEqual(
                s3.keys(`${PREFIX}/${r.id}/`).filter((k) => /manifest/.test(k)),
                [],
            );
        } finally {
            await relay.close();
        }
        const after_ = path.join(work, "latest-after-outage");
        assert.strictEqual((await run("fetch.sh", s3.env(PREFIX), ["latest", after_])).status, 0);
        assert.strictEqual(fs.readFileSync(path.join(after_, "timestamp"), "utf8").trim(), previous);
    });

    it("restores the other databases when one fails, and says which failed", async () => {
        const fresh = await freshServer();
        try {
            fresh.psql("DROP DATABASE cloud");
            const r = await restoreInto(fresh, path.join(work, "fetched"));
            assert.strictEqual(r.status, 1);
            assert.match(r.stdout, /^restored 5 of 6 databases; failed: cloud$/m);
            const c = (await tryConnect(fresh.tcp("platform_user", s.passwords.platform_user, "platform"))) as Client;
            assert.deepStrictEqual(await contents(c), original.platform);
            await c.end();
        } finally {
            fresh.stop();
        }
    });

    it("fails to fetch a backup a dump of which is missing", async () => {
        fs.rmSync(path.join(s3.dir, s3.bucket, PREFIX, firstRun, "kms.dump._S3rver_object"));
        fs.rmSync(path.join(s3.dir, s3.bucket, PREFIX, firstRun, "kms.dump._S3rver_metadata.json"), { force: true });
        const r = await run("fetch.sh", s3.env(PREFIX), [firstRun, path.join(work, "incomplete")]);
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, new RegExp(`run ${firstRun} lacks dumps its manifest lists: kms$`, "m"));
        assert.strictEqual(fs.existsSync(path.join(work, "incomplete", "timestamp")), false);
    });

    describe("the restore drill (drill.sh, a scratch server started by the script itself)", () => {
        // The pod runs as uid 999; here the scratch server runs as the postgres user (initdb refuses root).
        const postgresUser = () => {
            const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
            return { uid: id("-u"), gid: id("-g") };
        };
        let drillRoot = "";
        const drill = (dir: string) =>
            runScriptFile(files, "drill.sh", { ...pgEnv(), SCRATCH_DIR: path.join(drillRoot, "scratch") }, [dir], postgresUser());
        before(() => {
            drillRoot = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-drill-"));
        });
        after(() => fs.rmSync(drillRoot, { recursive: true, force: true }));

        it("restores the latest complete backup, runs the ADR-60 checks and records success per database", async () => {
            const dir = path.join(drillRoot, "latest");
            assert.strictEqual((await run("fetch.sh", s3.env(PREFIX), ["latest", dir])).status, 0);
            spawnSync("chown", ["-R", "postgres:postgres", drillRoot]);
            const r = await drill(dir);
            assert.strictEqual(r.status, 0, r.stderr);
            for (const { database } of databases) {
                assert.match(r.stderr, new RegExp(`^drill ${database}: restored, required tables present, row counts match$`, "m"));
            }
            assert.deepStrictEqual(await status("drill"), Object.fromEntries(databases.map((d) => [d.database, "true"])));
        });

        it("fails, naming the database, when a table's rows differ from the manifest's count", async () => {
            const dir = path.join(drillRoot, "latest");
            const manifest = fs.readFileSync(path.join(dir, "manifest.json"), "utf8");
            fs.writeFileSync(
                path.join(dir, "manifest.json"),
                manifest.replace('"public.tenant_secrets":250', '"public.tenant_secrets":251'),
            );
            try {
                const r = await drill(dir);
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, /^drill iam: table public.tenant_secrets: 251 rows in the dump, 250 restored$/m);
                assert.match(r.stderr, /^drill failed for: iam \(check-failed\)$/m);
                assert.deepStrictEqual(await status("drill"), {
                    ...Object.fromEntries(databases.map((d) => [d.database, "true"])),
                    iam: "false",
                });
            } finally {
                fs.writeFileSync(path.join(dir, "manifest.json"), manifest);
            }
        });
    });

    describe("fetching and pruning at any size, by the S3 server's clock", () => {
        /** Puts many objects in one `aws s3 sync`, then ages each: keys → days old. */
        const putAll = async (prefix: string, objects: Record<string, number>) => {
            const src = fs.mkdtempSync(path.join(work, "objects-"));
            for (const key of Object.keys(objects)) {
                fs.mkdirSync(path.dirname(path.join(src, key)), { recursive: true });
                fs.writeFileSync(path.join(src, key), key.endsWith("manifest.json") ? '{\n  "databases": [\n  ]\n}\n' : key);
            }
            const r = await runScript(
                `set -e; aws --endpoint-url "$S3_ENDPOINT" s3 sync --only-show-errors "${src}" "s3://$S3_BUCKET/${prefix}"`,
                s3.env(prefix),
            );
            assert.strictEqual(r.status, 0, r.stderr);
            for (const [key, days] of Object.entries(objects)) {
                s3.age(`${prefix}/${key}`, days);
            }
        };
        const prune = async (prefix: string, env: Record<string, string> = {}) => {
            const r = await run("prune.sh", { ...s3.env(prefix), ...env });
            assert.strictEqual(r.status, 0, r.stderr);
            return r.stdout;
        };

        it("finds the latest complete backup and prunes correctly among 1,102 objects (two pages)", async () => {
            const P = "many";
            const objects: Record<string, number> = {};
            // 366 old complete runs (iam, kms, manifest) a day apart, then the newest complete run, whose
            // name sorts first (so it is on the first page), and a newer run cut short.
            for (let i = 0; i < 366; i++) {
                const run = `2025-${String(1 + Math.floor(i / 31)).padStart(2, "0")}-${String(1 + (i % 31)).padStart(2, "0")}T${String(i % 24).padStart(2, "0")}-00-00Z-${i.toString(16).padStart(8, "0")}`;
                for (const f of ["iam.dump", "kms.dump", "manifest.json"]) {
                    objects[`${run}/${f}`] = 2 + i;
                }
            }
            objects["0000-newest/iam.dump"] = 1;
            objects["0000-newest/kms.dump"] = 1;
            objects["0000-newest/manifest.json"] = 1;
            objects["zzzz-cut-short/iam.dump"] = 0;
            await putAll(P, objects);
            assert.strictEqual(s3.keys(`${P}/`).length, 1102);
            const list = await runScript(
                `aws --endpoint-url "$S3_ENDPOINT" s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "${P}/" --query 'length(Contents)' --output text`,
                s3.env(P),
            );
            assert.deepStrictEqual(list.stdout.trim().split(/\s+/), ["1000", "102"]); // the server pages, as S3 does
            const latest = await run("fetch.sh", s3.env(P), ["latest", path.join(work, "many")]);
            assert.strictEqual(latest.status, 0, latest.stderr);
            assert.strictEqual(fs.readFileSync(path.join(work, "many", "timestamp"), "utf8").trim(), "0000-newest");
            // Retention (iam 30 days, kms 2555) counted back from the newest complete backup (1 day old).
            const out = await prune(P);
            const iamGone = Object.entries(objects).filter(([k, d]) => k.endsWith("/iam.dump") && d - 1 >= 30).length;
            assert.match(out, new RegExp(`^pruned ${iamGone} objects; newest complete backup: 0000-newest$`, "m"));
            const left = s3.keys(`${P}/`);
            assert.strictEqual(left.length, 1102 - iamGone);
            assert.ok(left.includes(`${P}/zzzz-cut-short/iam.dump`));
            assert.strictEqual(left.filter((k) => k.endsWith("kms.dump")).length, 367);
            assert.match(await prune(P), /^pruned 0 objects;/m);
        });

        it("deletes nothing more when the pod's clock is 3000 days fast", async () => {
            const P = "fastclock";
            await putAll(P, {
                "2020-01-01T00-00-00Z-00000001/kms.dump": 400, // 7-year retention: must stay
                "2020-01-01T00-00-00Z-00000001/iam.dump": 400,
                "2020-01-01T00-00-00Z-00000001/manifest.json": 400,
                "2026-11-01T00-00-00Z-00000002/kms.dump": 20,
                "2026-11-01T00-00-00Z-00000002/iam.dump": 20,
                "2026-11-01T00-00-00Z-00000002/manifest.json": 20,
                "2026-11-20T00-00-00Z-00000003/kms.dump": 2,
                "2026-11-20T00-00-00Z-00000003/iam.dump": 2,
                "2026-11-20T00-00-00Z-00000003/manifest.json": 2,
            });
            // `date` 3000 days fast whenever it tells the time (date -d still parses what it is given).
            const bin = fs.mkdtempSync(path.join(work, "fastclock-bin-"));
            fs.writeFileSync(
                path.join(bin, "date"),
                `#!/bin/bash\nfor a in "$@"; do case "$a" in -d*|--date*) exec /bin/date "$@";; esac; done\nexec /bin/date -d "@$(( $(/bin/date +%s) + 3000 * 86400 ))" "$@"\n`,
                { mode: 0o755 },
            );
            assert.match((await runScript("date -u +%Y", { PATH: `${bin}:/usr/bin:/bin` })).stdout.trim(), /^20(3[4-9]|4\d)$/);
            const out = await prune(P, { PATH: `${bin}:${process.env.PATH}` });
            assert.match(out, /^pruned 1 objects; newest complete backup: 2026-11-20T00-00-00Z-00000003$/m);
            assert.deepStrictEqual(
                s3.keys(`${P}/`).filter((k) => k.includes("2020-")),
                [`${P}/2020-01-01T00-00-00Z-00000001/kms.dump`, `${P}/2020-01-01T00-00-00Z-00000001/manifest.json`],
            );
            assert.strictEqual(s3.keys(`${P}/`).length, 8);
        });

        it("never deletes the newest complete backup, however old, nor anything newer", async () => {
            const P = "oldest";
            await putAll(P, {
                "2026-01-01T00-00-00Z-00000001/iam.dump": 300,
                "2026-01-01T00-00-00Z-00000001/manifest.json": 300,
                "2026-02-01T00-00-00Z-00000002/iam.dump": 200, // newer, never completed
                "2026-02-01T00-00-00Z-00000003/iam.dump": 190, // newer, partial
                "2026-02-01T00-00-00Z-00000003/manifest.partial.json": 190,
            });
            assert.match(await prune(P), /^pruned 0 objects; newest complete backup: 2026-01-01T00-00-00Z-00000001$/m);
            assert.strictEqual(s3.keys(`${P}/`).length, 5);
        });

        it("keeps each database's retention in runs with a manifest, the default in runs without one", async () => {
            const P = "retention";
            await putAll(P, {
                "a-2026-09/iam.dump": 80,
                "a-2026-09/kms.dump": 80,
                "a-2026-09/manifest.json": 80, // kms is kept 2555 days
                "b-2026-10/iam.dump": 50,
                "b-2026-10/cloud.dump": 50,
                "b-2026-10/manifest.partial.json": 50, // all past 30 days
                "c-2026-11/iam.dump": 12,
                "c-2026-11/manifest.json": 12, // newest complete
                "d-2026-11/iam.dump": 1, // an upload cut short, recent
                "20260215_060000/iam.dump": 10,
                "20260215_060000/kms.dump": 10, // the seed's format, recent
                "20250101_000000/iam.dump": 400, // the seed's format, old
            });
            assert.match(await prune(P), /^pruned 5 objects; newest complete backup: c-2026-11$/m);
            assert.deepStrictEqual(s3.keys(`${P}/`), [
                `${P}/20260215_060000/iam.dump`,
                `${P}/20260215_060000/kms.dump`,
                `${P}/a-2026-09/kms.dump`,
                `${P}/a-2026-09/manifest.json`,
                `${P}/c-2026-11/iam.dump`,
                `${P}/c-2026-11/manifest.json`,
                `${P}/d-2026-11/iam.dump`,
            ]);
            assert.match(await prune(P), /^pruned 0 objects;/m);
        });
    });
});

export type { ScriptRun };
