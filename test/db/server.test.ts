import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { connectionSecretData } from "../../render/connection";
import { PG_BIN } from "../harness/pg/server";
import { renderInitSql } from "../../cli/sql/initSql";
import { parseQuantity } from "../../policies/standard/quantity";
import { serverSettings } from "../../policies/standard/settings";
import { normalizeSetting as normalize } from "../../cli/verify/checks";
import { REQUIRED_EXTENSIONS } from "../../policies/standard/rules";
import { StackServer, catalogSnapshot, relay, sqlstate, stackServer, tryConnect } from "../support/db";
import { TYPES, ofType } from "../support/plan";

/** Every service role's database, from the plan. */
function databasesOf(s: StackServer): { database: string; role: string }[] {
    return ofType(s.plan, TYPES.database).map((d) => ({ database: String(d.inputs.name), role: String(d.inputs.owner) }));
}

for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
    describe(`real PostgreSQL with the ${stack} stack's files and SQL`, function () {
        this.timeout(120_000);
        let s: StackServer;

        before(async () => {
            s = await stackServer(stack);
        });
        after(() => s?.server.stop());

        it("starts with the rendered files: no error in pg_file_settings or pg_hba_file_rules", async () => {
            const admin = await s.server.admin();
            try {
                assert.deepStrictEqual((await admin.query("SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL")).rows, []);
                assert.deepStrictEqual(
                    (await admin.query("SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL")).rows,
                    [],
                );
                // Only where the harness listens is overridden (the rendered file is included unchanged).
                const superseded = (await admin.query("SELECT name FROM pg_file_settings WHERE NOT applied ORDER BY name")).rows.map(
                    (r) => r.name,
                );
                assert.deepStrictEqual(superseded, ["listen_addresses", "port"]);
            } finally {
                await admin.end();
            }
        });

        it("reports the standard's values, memory- and CPU-derived ones and shared_preload_libraries included", async () => {
            const limits = (ofType(s.plan, TYPES.statefulSet)[0].inputs as any).spec.template.spec.containers[0].resources.limits;
            const memory = parseQuantity(limits.memory)!;
            const admin = await s.server.admin();
            try {
                // pgvector's settings are in pg_settings once the library is loaded (test/db/vector.test.ts).
                await admin.query("LOAD 'vector'");
                for (const setting of serverSettings(memory, undefined, { cpuLimitCores: parseQuantity(limits.cpu) }).filter(
                    (x) => !["port", "listen_addresses"].includes(x.name),
                )) {
                    const row = (await admin.query("SELECT setting, unit FROM pg_settings WHERE name = $1", [setting.name])).rows[0];
                    assert.strictEqual(normalize(row.setting, row.unit), normalize(setting.value, row.unit), setting.name);
                }
                assert.strictEqual(
                    (await admin.query("SHOW shared_preload_libraries")).rows[0].shared_preload_libraries,
                    "pg_stat_statements",
                );
                assert.strictEqual((await admin.query("SHOW password_encryption")).rows[0].password_encryption, "scram-sha-256");
            } finally {
                await admin.end();
            }
        });

        it("lets each service role migrate its own database: table, index, function, HNSW, pg_trgm, uuid-ossp, pg_stat_statements", async () => {
            for (const { database, role } of databasesOf(s)) {
                const c = (await tryConnect(s.server.tcp(role, s.passwords[role], database))) as Client;
                assert.ok(c instanceof Client, `${role} connects to ${database}: ${JSON.stringify(c)}`);
                try {
                    assert.deepStrictEqual((await c.query("SELECT current_user, current_setting('is_superuser') AS su")).rows, [
                        { current_user: role, su: "off" },
                    ]);
                    await c.query(
                        `CREATE TABLE users (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), org_id int NOT NULL, name text NOT NULL)`,
                    );
                    await c.query(`CREATE INDEX users_name_trgm ON users USING gin (name gin_trgm_ops)`);
                    await c.query(
                        `CREATE TABLE llm_cache (id bigserial PRIMARY KEY, user_id uuid REFERENCES users(id), model text NOT NULL, response text, embedding vector(1536) NOT NULL)`,
                    );
                    await c.query(
                        `CREATE FUNCTION org_of(u uuid) RETURNS int LANGUAGE sql STABLE AS 'SELECT org_id FROM users WHERE id = u'`,
                    );
                    await c.query(`INSERT INTO users (org_id, name) SELECT i % 3, 'user ' || i FROM generate_series(1, 30) i`);
                    await c.query(
                        `INSERT INTO llm_cache (user_id, model, response, embedding)
                         SELECT (SELECT id FROM users ORDER BY name OFFSET (i % 30) LIMIT 1), 'gpt', 'r' || i,
                                (SELECT array_agg(random())::vector(1536) FROM generate_series(1, 1536) WHERE i > 0)
                           FROM generate_series(1, 200) i`,
                    );
                    await c.query(
                        `CREATE INDEX llm_cache_embedding_hnsw ON llm_cache USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
                    );
                    const sim = (
                        await c.query(
                            "SELECT similarity('hanzo', 'hanzo ai') AS s, uuid_generate_v4() AS u, org_of(id) AS o FROM users LIMIT 1",
                        )
                    ).rows[0];
                    assert.ok(sim.s > 0.4 && /^[0-9a-f-]{36}$/.test(sim.u) && typeof sim.o === "number", JSON.stringify(sim));
                    const semantic = `SELECT c.response, c.embedding <=> $1::vector AS distance
                                        FROM llm_cache c JOIN users u ON c.user_id = u.id
                                       WHERE u.org_id = $2 AND c.model = $3 AND c.embedding <=> $1::vector < 0.3
                                       ORDER BY distance LIMIT 5`;
                    const probe = (
                        await c.query(
                            "SELECT c.embedding::text AS e, c.response, u.org_id FROM llm_cache c JOIN users u ON u.id = c.user_id WHERE c.id = 7",
                        )
                    ).rows[0];
                    const found = (await c.query(semantic, [probe.e, probe.org_id, "gpt"])).rows;
                    assert.deepStrictEqual(
                        found[0],
                        { response: probe.response, distance: 0 },
                        "a stored row's own vector finds that row first",
                    );
                    await c.query("SET enable_seqscan = off");
                    const explain = JSON.stringify(
                        (await c.query(`EXPLAIN (FORMAT JSON) ${semantic}`, [probe.e, probe.org_id, "gpt"])).rows,
                    );
                    assert.match(
                        explain,
                        /"Index Name":"llm_cache_embedding_hnsw"/,
                        `${database}: the semantic-cache query uses the HNSW index`,
                    );
                    const stats = (await c.query("SELECT count(*)::int AS n FROM pg_stat_statements WHERE query LIKE '%llm_cache%'"))
                        .rows[0].n;
                    assert.ok(stats > 0, "pg_stat_statements records the role's queries");
                } finally {
                    await c.end();
                }
            }
        });

        it("confines each service role: no other database, no roles, no databases, not superuser", async () => {
            const dbs = databasesOf(s);
            for (const { database, role } of dbs) {
                const other = dbs.find((d) => d.database !== database)!;
                const denied = await tryConnect(s.server.tcp(role, s.passwords[role], other.database));
                assert.ok(!(denied instanceof Client), `${role} must not connect to ${other.database}`);
                assert.deepStrictEqual(denied, { code: "42501", message: `permission denied for database "${other.database}"` });
                const c = (await tryConnect(s.server.tcp(role, s.passwords[role], database))) as Client;
                try {
                    assert.strictEqual(await sqlstate(c, "CREATE ROLE intruder"), "42501");
                    assert.strictEqual(await sqlstate(c, "CREATE DATABASE intruder"), "42501");
                    assert.strictEqual(await sqlstate(c, `ALTER ROLE ${role} SUPERUSER`), "42501");
                    assert.strictEqual(await sqlstate(c, "SET ROLE hanzo"), "42501");
                    const attrs = (
                        await c.query(
                            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user",
                        )
                    ).rows[0];
                    assert.deepStrictEqual(attrs, {
                        rolsuper: false,
                        rolcreaterole: false,
                        rolcreatedb: false,
                        rolreplication: false,
                        rolbypassrls: false,
                    });
                } finally {
                    await c.end();
                }
            }
        });

        it("connects with the rendered connection strings: DATABASE_URL, IAM's dataSourceName and .pgpass (libpq)", () => {
            for (const { database, role } of databasesOf(s)) {
                const params = {
                    user: role,
                    password: s.passwords[role],
                    host: "127.0.0.1",
                    port: s.server.port,
                    database,
                    sslmode: "disable",
                };
                const data = connectionSecretData(params, "beego");
                const who = (conninfo: string, env: Record<string, string> = {}) => {
                    const r = spawnSync(
                        `${PG_BIN}/psql`,
                        ["-X", "-A", "-t", "-w", "-c", "SELECT current_user || '@' || current_database()", conninfo],
                        {
                            encoding: "utf8",
                            env: { PATH: process.env.PATH!, ...env },
                        },
                    );
                    assert.strictEqual(r.status, 0, r.stderr);
                    return r.stdout.trim();
                };
                assert.strictEqual(who(data.DATABASE_URL), `${role}@${database}`, "percent-encoded URL");
                assert.strictEqual(who(data.dataSourceName), `${role}@${database}`, "dataSourceName (a URL)");
                // A directory of its own: two runs of the suite at once (two clones) must not share the file.
                const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgpass-"));
                const pgpass = path.join(dir, role);
                fs.writeFileSync(pgpass, `${data.pgpass}\n`, { mode: 0o600 });
                try {
                    assert.strictEqual(
                        who(`host=127.0.0.1 port=${s.server.port} user=${role} dbname=${database}`, { PGPASSFILE: pgpass }),
                        `${role}@${database}`,
                        ".pgpass line",
                    );
                } finally {
                    fs.rmSync(dir, { recursive: true });
                }
            }
        });

        it("rejects a wrong password and an address outside the admitted ranges", async () => {
            const { database, role } = databasesOf(s)[0];
            assert.deepStrictEqual(await tryConnect(s.server.tcp(role, "wrong", database)), {
                code: "28P01",
                message: `password authentication failed for user "${role}"`,
            });
            const r = await relay(s.server.port, "127.0.0.2");
            try {
                const outside = await tryConnect({ host: "127.0.0.1", port: r.port, user: role, password: s.passwords[role], database });
                assert.deepStrictEqual(outside, {
                    code: "28000",
                    message: `pg_hba.conf rejects connection for host "127.0.0.2", user "${role}", database "${database}", no encryption`,
                });
            } finally {
                await r.close();
            }
        });

        it("creates the four extensions in every service database and template1, and revokes CONNECT from PUBLIC", async () => {
            const snap = (await catalogSnapshot(s.server)) as {
                extensions: Record<string, { extname: string }[]>;
                databases: { datname: string; datacl: string }[];
            };
            for (const db of [...databasesOf(s).map((d) => d.database), "template1"]) {
                const names = snap.extensions[db].map((e) => e.extname);
                for (const ext of REQUIRED_EXTENSIONS) {
                    assert.ok(names.includes(ext), `${db} has ${ext}`);
                }
            }
            // Only the owner, and (where the stack has backups) the backup role, may connect.
            const backups = ofType(s.plan, TYPES.role).some((r) => r.inputs.name === "hanzo_backup");
            for (const { database, role } of databasesOf(s)) {
                assert.strictEqual(
                    snap.databases.find((d) => d.datname === database)!.datacl,
                    `{${role}=CTc/${role}${backups ? `,hanzo_backup=c/${role}` : ""}}`,
                );
            }
        });

        it("changes nothing when the SQL is applied again", async () => {
            const before = await catalogSnapshot(s.server);
            s.server.psql(renderInitSql(s.plan.plan));
            assert.deepStrictEqual(await catalogSnapshot(s.server), before);
            // With passwords, only their salted SCRAM verifiers are new; the passwords themselves still work.
            s.server.psql(renderInitSql(s.plan.plan, { passwords: "env", env: s.passwordEnv }));
            const strip = (x: any) => ({ ...x, roles: x.roles.map(({ rolpassword: _p, ...r }: any) => r) });
            assert.deepStrictEqual(strip(await catalogSnapshot(s.server)), strip(before));
            const { database, role } = databasesOf(s)[0];
            const c = await tryConnect(s.server.tcp(role, s.passwords[role], database));
            assert.ok(c instanceof Client);
            await c.end();
        });
    });
}
