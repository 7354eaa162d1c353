import * as assert from "assert";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { PgServer } from "../../tools/pg/server";
import { renderInitSql } from "../../tools/sql/initSql";
import { StackServer, renderedFiles, stackServer, tryConnect } from "../support/db";
import { TYPES, ofType, resource } from "../support/plan";
import { S3Server, runScript } from "../../tools/local/s3";

const STACK = "hanzo-k8s";
const PREFIX = "postgres";

/** The scripts exactly as the stack's backup ConfigMap carries them. */
function scripts(s: StackServer): Record<string, string> {
    return (resource(s.plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as { data: Record<string, string> }).data;
}

/** Fills a service database with data of every common kind, as its own role. */
async function populate(c: Client, seed: number): Promise<void> {
    await c.query(`CREATE TABLE accounts (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, profile jsonb, avatar bytea, embedding vector(3), created timestamptz NOT NULL)`);
    await c.query(
        `INSERT INTO accounts (email, profile, avatar, embedding, created)
         SELECT 'user' || i || '@hanzo.ai', jsonb_build_object('n', i, 'tags', array['a', md5(i::text)]), decode(md5((i * $1)::text), 'hex'),
                ('[' || i || ',' || (i * 2) || ',' || $1 || ']')::vector, timestamptz '2026-01-01' + i * interval '1 hour'
           FROM generate_series(1, 400) i`,
        [seed],
    );
    await c.query(`CREATE TABLE events (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), account bigint REFERENCES accounts(id), kind text)`);
    await c.query(`INSERT INTO events (account, kind) SELECT 1 + i % 400, 'kind' || (i % 7) FROM generate_series(1, 900) i`);
    await c.query(`CREATE VIEW recent AS SELECT email FROM accounts WHERE created > timestamptz '2026-01-10'`);
    await c.query(`CREATE INDEX accounts_email_trgm ON accounts USING gin (email gin_trgm_ops)`);
}

/** A checksum of every table's contents and every sequence's position in a database. */
async function contents(c: Client): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const { tablename } of (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows) {
        out[tablename] = (await c.query(`SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM "${tablename}" t`)).rows[0].h;
    }
    for (const { sequencename, last_value } of (await c.query("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1")).rows) {
        out[`sequence ${sequencename}`] = String(last_value);
    }
    return out;
}

describe("backups and restore on real components (PostgreSQL, aws CLI, an S3 API)", function () {
    this.timeout(300_000);
    let s: StackServer;
    let s3: S3Server;
    let work: string;
    let databases: { database: string; role: string }[];
    const original: Record<string, Record<string, string>> = {};

    const dumpEnv = (ts: string) => ({
        PGHOST: "127.0.0.1", PGPORT: String(s.server.port), PGUSER: "hanzo_backup", PGPASSWORD: s.passwords.hanzo_backup,
        BACKUP_DIR: path.join(work, ts), BACKUP_TIMESTAMP: ts,
    });
    const backup = async (ts: string) => {
        const dump = await runScript(scripts(s)["dump.sh"], dumpEnv(ts));
        const upload = dump.status === 0 ? await runScript(scripts(s)["upload.sh"], { ...s3.env(PREFIX), BACKUP_DIR: path.join(work, ts) }) : undefined;
        return { dump, upload };
    };

    before(async () => {
        s = await stackServer(STACK);
        s3 = await S3Server.start("hanzo-k8s-postgres-backups");
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-backup-"));
        databases = ofType(s.plan, TYPES.database).map((d) => ({ database: String(d.inputs.name), role: String(d.inputs.owner) }));
        for (const [i, { database, role }] of databases.entries()) {
            const c = (await tryConnect(s.server.tcp(role, s.passwords[role], database))) as Client;
            await populate(c, i + 1);
            original[database] = await contents(c);
            await c.end();
        }
    });
    after(async () => {
        s?.server.stop();
        await s3?.stop();
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("dumps every database of the stack as the least-privilege backup role, and uploads them with a manifest", async () => {
        const { dump, upload } = await backup("2026-11-22T00-00-00Z");
        assert.strictEqual(dump.status, 0, dump.stderr);
        assert.strictEqual(upload!.status, 0, upload!.stderr);
        const names = databases.map((d) => d.database);
        assert.deepStrictEqual(s3.keys(`${PREFIX}/2026-11-22T00-00-00Z/`), [...names.map((n) => `${PREFIX}/2026-11-22T00-00-00Z/${n}.dump`), `${PREFIX}/2026-11-22T00-00-00Z/manifest.json`].sort());
        const manifest = JSON.parse(s3.read(`${PREFIX}/2026-11-22T00-00-00Z/manifest.json`).toString());
        assert.strictEqual(manifest.timestamp, "2026-11-22T00-00-00Z");
        assert.deepStrictEqual(manifest.databases.map((d: { database: string }) => d.database), names);
        for (const d of manifest.databases) {
            const bytes = s3.read(`${PREFIX}/2026-11-22T00-00-00Z/${d.file}`);
            assert.strictEqual(d.size, bytes.length);
            assert.strictEqual(d.sha256, createHash("sha256").update(bytes).digest("hex"));
        }
    });

    it("gives the backup role reading, not writing", async () => {
        const c = (await tryConnect(s.server.tcp("hanzo_backup", s.passwords.hanzo_backup, "iam"))) as Client;
        try {
            assert.strictEqual((await c.query("SELECT count(*)::int AS n FROM accounts")).rows[0].n, 400);
            await assert.rejects(c.query("INSERT INTO accounts (email, created) VALUES ('x', now())"), { code: "42501" });
            await assert.rejects(c.query("CREATE TABLE t (i int)"), { code: "42501" });
        } finally {
            await c.end();
        }
    });

    it("restores every database into a fresh server with identical data, owned by the service roles", async () => {
        const fresh = await PgServer.start(renderedFiles(s.plan));
        try {
            fresh.psql(renderInitSql(s.plan.plan, { passwords: "env", env: s.passwordEnv }));
            const dir = path.join(work, "fetched");
            const fetched = await runScript(scripts(s)["fetch.sh"], s3.env(PREFIX), ["latest", dir]);
            assert.strictEqual(fetched.status, 0, fetched.stderr);
            assert.strictEqual(fs.readFileSync(path.join(dir, "timestamp"), "utf8").trim(), "2026-11-22T00-00-00Z");
            const restored = await runScript(scripts(s)["restore.sh"], { PGHOST: "127.0.0.1", PGPORT: String(fresh.port), PGUSER: "hanzo", PGPASSWORD: fresh.adminPassword }, [dir]);
            assert.strictEqual(restored.status, 0, restored.stderr);
            assert.match(restored.stdout, /restored 6 databases/);
            for (const { database, role } of databases) {
                const c = (await tryConnect(fresh.tcp(role, s.passwords[role], database))) as Client;
                try {
                    assert.deepStrictEqual(await contents(c), original[database], database);
                    const owners = (await c.query("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.tableowner);
                    assert.deepStrictEqual(owners, [role]);
                    await c.query("ALTER TABLE accounts ADD COLUMN migrated boolean"); // the service's next migration still runs
                } finally {
                    await c.end();
                }
            }
            // Restoring again over the restored data (--clean --if-exists) works and gives the same data.
            const again = await runScript(scripts(s)["restore.sh"], { PGHOST: "127.0.0.1", PGPORT: String(fresh.port), PGUSER: "hanzo", PGPASSWORD: fresh.adminPassword }, [dir, "iam"]);
            assert.strictEqual(again.status, 0, again.stderr);
            const c = (await tryConnect(fresh.tcp("iam_user", s.passwords.iam_user, "iam"))) as Client;
            assert.deepStrictEqual(await contents(c), original.iam);
            await c.end();
        } finally {
            fresh.stop();
        }
    });

    it("fails the job and uploads nothing when a dump fails; the previous complete backup stays the latest", async () => {
        s.server.psql("REVOKE ALL ON DATABASE platform FROM hanzo_backup");
        try {
            const { dump, upload } = await backup("2026-11-22T06-00-00Z");
            assert.notStrictEqual(dump.status, 0);
            assert.match(dump.stderr, /permission denied for database "platform"/);
            assert.strictEqual(upload, undefined);
            // And if the upload step runs anyway, it refuses: there is no complete dump.
            const forced = await runScript(scripts(s)["upload.sh"], { ...s3.env(PREFIX), BACKUP_DIR: path.join(work, "2026-11-22T06-00-00Z") });
            assert.strictEqual(forced.status, 1);
            assert.match(forced.stderr, /no complete dump to upload/);
        } finally {
            s.server.psql("GRANT CONNECT ON DATABASE platform TO hanzo_backup");
        }
        assert.deepStrictEqual(s3.keys(`${PREFIX}/2026-11-22T06-00-00Z`), []);
        const dir = path.join(work, "latest-after-failure");
        assert.strictEqual((await runScript(scripts(s)["fetch.sh"], s3.env(PREFIX), ["latest", dir])).status, 0);
        assert.strictEqual(fs.readFileSync(path.join(dir, "timestamp"), "utf8").trim(), "2026-11-22T00-00-00Z");
    });

    it("writes no manifest when an upload fails, so a half-uploaded backup is never the latest", async () => {
        const ts = "2026-11-22T12-00-00Z";
        assert.strictEqual((await runScript(scripts(s)["dump.sh"], dumpEnv(ts))).status, 0);
        const dir = path.join(work, ts, ts);
        fs.appendFileSync(path.join(dir, "kms.dump"), "corrupted on the way");
        const upload = await runScript(scripts(s)["upload.sh"], { ...s3.env(PREFIX), BACKUP_DIR: path.join(work, ts) });
        assert.notStrictEqual(upload.status, 0);
        assert.match(upload.stdout + upload.stderr, /kms\.dump: FAILED/);
        assert.deepStrictEqual(s3.keys(`${PREFIX}/${ts}/`).filter((k) => k.endsWith("manifest.json")), []);
    });

    describe("pruning", () => {
        const P = "prune";
        const put = async (key: string, days: number) => {
            const file = path.join(work, "object");
            fs.writeFileSync(file, key);
            const r = await runScript(`set -e; aws --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors "${file}" "s3://$S3_BUCKET/${key}"`, s3.env(P));
            assert.strictEqual(r.status, 0, r.stderr);
            s3.age(key, days);
        };
        const prune = async () => {
            const r = await runScript(scripts(s)["prune.sh"], s3.env(P));
            assert.strictEqual(r.status, 0, r.stderr);
            return r.stdout;
        };

        it("deletes dumps past their database's retention by their age in the bucket, keeps the rest, and is idempotent", async () => {
            const backups: [string, string[], number][] = [
                ["2026-09-01T00-00-00Z", ["iam.dump", "kms.dump", "manifest.json"], 80], // kms is kept 2555 days
                ["2026-10-01T00-00-00Z", ["iam.dump", "cloud.dump", "manifest.json"], 50], // all past 30 days
                ["2026-11-10T00-00-00Z", ["iam.dump", "manifest.json"], 12], // newest complete
                ["2026-11-21T00-00-00Z", ["iam.dump"], 1], // an upload cut short, recent
                ["20260215_060000", ["iam.dump", "kms.dump"], 10], // the seed's format: date -d cannot parse it
                ["20250101_000000", ["iam.dump"], 400], // the seed's format, old
            ];
            for (const [ts, files, days] of backups) {
                for (const f of files) {
                    await put(`${P}/${ts}/${f}`, days);
                }
            }
            assert.match(await prune(), /^pruned 5 objects; newest complete backup: 2026-11-10T00-00-00Z$/m);
            assert.deepStrictEqual(s3.keys(`${P}/`), [
                `${P}/2026-09-01T00-00-00Z/kms.dump`,
                `${P}/2026-09-01T00-00-00Z/manifest.json`,
                `${P}/2026-11-10T00-00-00Z/iam.dump`,
                `${P}/2026-11-10T00-00-00Z/manifest.json`,
                `${P}/2026-11-21T00-00-00Z/iam.dump`,
                `${P}/20260215_060000/iam.dump`,
                `${P}/20260215_060000/kms.dump`,
            ]);
            assert.match(await prune(), /^pruned 0 objects;/m);
        });

        it("never deletes the newest complete backup, however old", async () => {
            for (const key of [`${P}2/2026-01-01T00-00-00Z/iam.dump`, `${P}2/2026-01-01T00-00-00Z/manifest.json`]) {
                await put(key, 300);
            }
            await put(`${P}2/2026-02-01T00-00-00Z/iam.dump`, 200); // newer, but never completed
            const r = await runScript(scripts(s)["prune.sh"], s3.env(`${P}2`));
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(s3.keys(`${P}2/`), [`${P}2/2026-01-01T00-00-00Z/iam.dump`, `${P}2/2026-01-01T00-00-00Z/manifest.json`]);
        });
    });
});
