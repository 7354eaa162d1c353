import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../../render/adminPassword";
import { connectionSecretData } from "../../render/connection";
import { isScramVerifier, scramVerifier } from "../../render/scram";
import { PG_BIN, PgServer, leakedSecrets, registerSecret } from "../harness/pg/server";
import { mockPassword } from "../../cli/plan/runner";
import { specOf, stackConfig } from "../../cli/plan/stackFile";
import { passwordVariable, renderInitSql } from "../../cli/sql/initSql";
import { verify } from "../../cli/verify/checks";
import { renderedFiles, tryConnect } from "../support/db";
import { TYPES, ofType, planOf, planWith, resource, revealed } from "../support/plan";

/** The RandomPassword behind a Role resource, where its name is not `<x>-role` → `<x>-password`. */
const PASSWORD_OF: Record<string, string> = {
    "hanzo-sql-monitoring-role": "hanzo-sql-postgres-monitor-password",
    "hanzo-sql-backups-role": "hanzo-sql-backups-role-password",
};
/** hanzo-k8s's configuration, with changes. */
const HANZO_K8S = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    services: [
        { name: "iam", connection: "beego" },
        "cloud",
        "console",
        "hanzo_cloud",
        { name: "kms", connection: "infisical", backupRetentionDays: 2555 },
        "platform",
    ],
};

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * The statements the postgresql provider sends for a Role (cyrilgdn/terraform-provider-postgresql
 * postgresql/resource_postgresql_role.go, 01defb57): create — `CREATE ROLE %s WITH ENCRYPTED PASSWORD '%s'
 * NOCREATEDB NOCREATEROLE LOGIN`, then `GRANT` per membership and `ALTER ROLE … SET search_path TO DEFAULT`;
 * update of the password — `ALTER ROLE %s PASSWORD '%s'` (setRolePassword).
 */
function providerCreate(name: string, password: string, roles: string[]): string {
    return [
        `CREATE ROLE ${ident(name)} WITH ENCRYPTED PASSWORD ${quote(password)} NOCREATEDB NOCREATEROLE LOGIN;`,
        ...roles.map((r) => `GRANT ${ident(r)} TO ${ident(name)};`),
        `ALTER ROLE ${ident(name)} SET search_path TO DEFAULT;`,
    ].join("\n");
}
const providerUpdatePassword = (name: string, password: string) => `ALTER ROLE ${ident(name)} PASSWORD ${quote(password)};`;

/**
 * The provider's refresh of a Role's password (readRolePassword): with a superuser connection it reads
 * pg_shadow.passwd; when the state is a SCRAM verifier (or md5) it keeps what it read, so a diff appears exactly
 * when the server's verifier differs from the program's. For a plain-text state and a SCRAM on the server it
 * returns the state unchanged (no drift detection at all).
 */
async function providerReadPassword(admin: Client, name: string, statePassword: string): Promise<string> {
    const rolePassword = (await admin.query("SELECT COALESCE(passwd, '') AS p FROM pg_catalog.pg_shadow AS s WHERE s.usename = $1", [name]))
        .rows[0].p as string;
    if (
        statePassword !== "" &&
        !statePassword.startsWith("md5") &&
        !statePassword.startsWith("SCRAM-SHA-256") &&
        rolePassword.startsWith("SCRAM-SHA-256")
    ) {
        return statePassword;
    }
    return rolePassword;
}

/** Connects with psql (libpq) and returns `user@database`, or the error. */
function psqlWho(conninfo: string, env: Record<string, string> = {}): string {
    const r = spawnSync(`${PG_BIN}/psql`, ["-X", "-A", "-t", "-w", "-c", "SELECT current_user || '@' || current_database()", conninfo], {
        encoding: "utf8",
        env: { PATH: process.env.PATH!, ...env },
    });
    return r.status === 0 ? r.stdout.trim() : `error: ${r.stderr.trim()}`;
}

describe("credentials on a real server with log_statement = 'all'", function () {
    this.timeout(180_000);
    let server: PgServer;
    let plan: Awaited<ReturnType<typeof planOf>>;
    /** role → [the program's password (the Secret's), the verifier the program gives the provider]. */
    const roles = new Map<string, { password: string; verifier: string; memberOf: string[] }>();

    before(async () => {
        plan = await planOf("hanzo-k8s");
        server = await PgServer.start(renderedFiles(plan), { log_statement: "'all'" });
        for (const r of ofType(plan, TYPES.role)) {
            const name = String(r.inputs.name);
            const passwordResource = resource(plan, TYPES.password, PASSWORD_OF[r.name] ?? r.name.replace(/-role$/, "-password"));
            const password = mockPassword(passwordResource.name, passwordResource.inputs.special !== false);
            registerSecret(password, name);
            roles.set(name, {
                password,
                verifier: String(revealed(plan, r).password),
                memberOf: (r.inputs.roles as string[] | undefined) ?? [],
            });
        }
    });
    after(() => server?.stop());

    it("gives the provider every role's SCRAM verifier, never its password: iam, …, hanzo_monitor, hanzo_backup", () => {
        assert.deepStrictEqual([...roles.keys()].sort(), [
            "cloud_user",
            "console_user",
            "hanzo_backup",
            "hanzo_cloud_user",
            "hanzo_monitor",
            "iam_user",
            "kms_user",
            "platform_user",
        ]);
        for (const [name, r] of roles) {
            assert.ok(isScramVerifier(r.verifier), `${name}: ${r.verifier.slice(0, 20)}`);
            assert.ok(r.verifier.startsWith("SCRAM-SHA-256$4096:"), name);
            assert.ok(!r.verifier.includes(r.password), name);
            // The verifier is the Secret's password's, with its own salt.
            assert.strictEqual(scramVerifier(r.password, r.verifier.split("$")[1].split(":")[1]), r.verifier, name);
        }
    });

    it("runs the provider's statements: every role logs in with its password over SCRAM (libpq and pg), and the refresh shows no diff", async () => {
        server.psql(Array.from(roles, ([name, r]) => providerCreate(name, r.verifier, r.memberOf)).join("\n"));
        // The databases, grants and extensions the rest of the plan means (roles exist now: CREATE is skipped).
        server.psql(renderInitSql(plan.plan));
        const admin = await server.admin();
        try {
            for (const [name, r] of roles) {
                // Refresh: what the provider reads back equals its state, so `pulumi up` shows nothing to do.
                assert.strictEqual(await providerReadPassword(admin, name, r.verifier), r.verifier, `${name}: no diff`);
                // An update with the same verifier (e.g. after a rename) stores it unchanged.
                server.psql(providerUpdatePassword(name, r.verifier));
                assert.strictEqual(await providerReadPassword(admin, name, r.verifier), r.verifier, `${name}: stable`);
            }
        } finally {
            await admin.end();
        }
        for (const [name, r] of roles) {
            const database =
                name === "hanzo_monitor" || name === "hanzo_backup"
                    ? name === "hanzo_monitor"
                        ? "postgres"
                        : "iam"
                    : name.replace(/_user$/, "");
            const c = (await tryConnect(server.tcp(name, r.password, database))) as Client;
            assert.ok(c instanceof Client, `${name} (pg): ${JSON.stringify(c)}`);
            await c.end();
            const url = connectionSecretData(
                { user: name, password: r.password, host: "127.0.0.1", port: server.port, database, sslmode: "disable" },
                "url",
            ).DATABASE_URL;
            assert.strictEqual(psqlWho(url), `${name}@${database}`, `${name} (libpq)`);
            assert.match(server.log(), new RegExp(`connection authenticated: identity="${name}" method=scram-sha-256`));
        }
    });

    it("sets verifiers from init-sql --passwords env, and the passwords still log in", async () => {
        const env = Object.fromEntries(Array.from(roles, ([name, r]) => [passwordVariable(name), r.password]));
        const sql = renderInitSql(plan.plan, { passwords: "env", env });
        for (const [name, r] of roles) {
            assert.ok(!sql.includes(r.password) && !sql.includes(encodeURIComponent(r.password)), `no password of ${name} in the script`);
            assert.match(
                sql,
                new RegExp(
                    `^ALTER ROLE "${name}" PASSWORD 'SCRAM-SHA-256\\$4096:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+';$`,
                    "m",
                ),
            );
        }
        server.psql(sql);
        const c = (await tryConnect(server.tcp("iam_user", roles.get("iam_user")!.password, "iam"))) as Client;
        assert.ok(c instanceof Client);
        await c.end();
        // Every missing variable at once, in the plan's order of the roles.
        assert.throws(() => renderInitSql(plan.plan, { passwords: "env", env: {} }), {
            message:
                "not set: HANZO_SQL_PASSWORD_HANZO_MONITOR, HANZO_SQL_PASSWORD_IAM_USER, HANZO_SQL_PASSWORD_CLOUD_USER, HANZO_SQL_PASSWORD_CONSOLE_USER, " +
                "HANZO_SQL_PASSWORD_HANZO_CLOUD_USER, HANZO_SQL_PASSWORD_KMS_USER, HANZO_SQL_PASSWORD_PLATFORM_USER, HANZO_SQL_PASSWORD_HANZO_BACKUP (each must hold its role's password)",
        });
    });

    it("logged every statement, and neither the log nor pg_stat_statements holds a password", async () => {
        const log = server.log();
        assert.match(
            log,
            /statement: CREATE ROLE "iam_user" WITH ENCRYPTED PASSWORD 'SCRAM-SHA-256\$4096:/,
            "log_statement = 'all' saw the provider's CREATE ROLE",
        );
        assert.match(log, /statement: ALTER ROLE "iam_user" PASSWORD 'SCRAM-SHA-256\$4096:/);
        assert.deepStrictEqual(leakedSecrets(log), []);
        const admin = await server.admin("iam");
        try {
            const statements = (await admin.query("SELECT query FROM public.pg_stat_statements")).rows
                .map((r) => r.query as string)
                .join("\n");
            assert.match(
                statements,
                /ALTER ROLE "iam_user" PASSWORD 'SCRAM-SHA-256/,
                "pg_stat_statements kept the statement, with the verifier only",
            );
            assert.deepStrictEqual(leakedSecrets(statements), []);
        } finally {
            await admin.end();
        }
    });

    it("closes postgres and template1 to every service role; the exporter and the backup role reach postgres only; verify checks it", async () => {
        for (const [name, r] of roles) {
            for (const db of ["postgres", "template1"]) {
                if ((name === "hanzo_monitor" || name === "hanzo_backup") && db === "postgres") {
                    continue; // the exporter reads there; the backup role records its results there (docs/backups.md)
                }
                assert.deepStrictEqual(
                    await tryConnect(server.tcp(name, r.password, db)),
                    { code: "42501", message: `permission denied for database "${db}"` },
                    `${name} → ${db}`,
                );
            }
        }
        for (const name of ["hanzo_monitor", "hanzo_backup"]) {
            const c = (await tryConnect(server.tcp(name, roles.get(name)!.password, "postgres"))) as Client;
            assert.ok(c instanceof Client, name);
            await c.end();
        }

        const spec = specOf(stackConfig("hanzo-k8s"));
        const maintenance = async () =>
            (await verify(spec, server.adminUrl())).filter((x) => x.object === "database postgres" || x.object === "database template1");
        assert.deepStrictEqual(await maintenance(), [
            { object: "database postgres", ok: true, detail: "no service role can connect (only hanzo and hanzo_monitor)" },
            { object: "database template1", ok: true, detail: "no service role can connect (only hanzo)" },
        ]);
        server.psql('GRANT CONNECT ON DATABASE template1 TO PUBLIC; GRANT CONNECT ON DATABASE postgres TO "iam_user";');
        try {
            assert.deepStrictEqual(await maintenance(), [
                {
                    object: "database postgres",
                    ok: false,
                    detail: "roles that must not connect can: iam_user",
                    fix: 'REVOKE ALL ON DATABASE "postgres" FROM "iam_user"',
                },
                {
                    object: "database template1",
                    ok: false,
                    detail: "PUBLIC can connect, so every service role can",
                    fix: 'REVOKE ALL ON DATABASE "template1" FROM PUBLIC (pulumi up does)',
                },
            ]);
        } finally {
            server.psql('REVOKE ALL ON DATABASE template1 FROM PUBLIC; REVOKE ALL ON DATABASE postgres FROM "iam_user";');
        }
    });

    it("rotates a service's password with passwordVersion: new password in every shape of the Secret, new verifier, old rejected", async () => {
        const rotated = await planWith("hanzo-k8s", {
            ...HANZO_K8S,
            services: [{ name: "iam", connection: "beego", passwordVersion: 2 }, ...HANZO_K8S.services.slice(1)],
        });
        assert.deepStrictEqual(resource(rotated, TYPES.password, "hanzo-sql-iam-password").inputs.keepers, { passwordVersion: "2" });
        assert.deepStrictEqual(resource(rotated, "random:index/randomId:RandomId", "hanzo-sql-iam-role-salt").inputs.keepers, {
            passwordVersion: "2",
        });
        assert.strictEqual(
            resource(rotated, TYPES.password, "hanzo-sql-cloud-password").inputs.keepers,
            undefined,
            "other services keep theirs",
        );
        const data = revealed(rotated, resource(rotated, TYPES.secret, "hanzo-sql-iam-connection")).stringData as Record<string, string>;
        const old = roles.get("iam_user")!.password;
        const fresh = data.DB_PASSWORD;
        registerSecret(fresh, "iam_user (rotated)");
        assert.notStrictEqual(fresh, old);
        const verifier = String(revealed(rotated, resource(rotated, TYPES.role, "hanzo-sql-iam-role")).password);
        assert.notStrictEqual(verifier, roles.get("iam_user")!.verifier);
        // pulumi up: the provider sees a new password and sends setRolePassword's ALTER ROLE.
        server.psql(providerUpdatePassword("iam_user", verifier));
        const local = connectionSecretData(
            { user: "iam_user", password: fresh, host: "127.0.0.1", port: server.port, database: "iam", sslmode: "disable" },
            "beego",
        );
        // Every key of the Secret is the renderer's output for the new password (DATABASE_URL, DB_PASSWORD, pgpass, dataSourceName, …).
        assert.deepStrictEqual(
            data,
            connectionSecretData(
                { user: "iam_user", password: fresh, host: "postgres.hanzo.svc", port: 5432, database: "iam", sslmode: "disable" },
                "beego",
            ),
        );
        assert.strictEqual(data.DB_PASSWORD, fresh);
        assert.strictEqual(psqlWho(local.DATABASE_URL), "iam_user@iam", "DATABASE_URL");
        assert.strictEqual(psqlWho(local.dataSourceName), "iam_user@iam", "dataSourceName");
        const pgpass = path.join(os.tmpdir(), `pgpass-rotated-${process.pid}`);
        fs.writeFileSync(pgpass, `${local.pgpass}\n`, { mode: 0o600 });
        try {
            assert.strictEqual(
                psqlWho(`host=127.0.0.1 port=${server.port} user=iam_user dbname=iam`, { PGPASSFILE: pgpass }),
                "iam_user@iam",
                ".pgpass",
            );
        } finally {
            fs.rmSync(pgpass);
        }
        assert.deepStrictEqual(await tryConnect(server.tcp("iam_user", old, "iam")), {
            code: "28P01",
            message: 'password authentication failed for user "iam_user"',
        });
    });
});

describe("admin password rotation through the server pod's init container, on a real server", function () {
    this.timeout(180_000);
    let server: PgServer;

    before(async () => {
        server = await PgServer.start(renderedFiles(await planOf("hanzo-k8s")), { log_statement: "'all'" });
    });
    after(() => server?.stop());

    /** Runs the init container's script as the postgres user, as the pod does, against this server's files. */
    const runInit = (env: Record<string, string>) => {
        const script = path.join(server.dir, "apply-admin-password.sh");
        fs.writeFileSync(script, APPLY_ADMIN_PASSWORD_SCRIPT, { mode: 0o755 });
        const vars = { PATH: `${PG_BIN}:${process.env.PATH}`, PG_CONFIG_FILE: server.configFile, PG_HBA_FILE: server.hbaFile, ...env };
        return server.runAsPostgres("env", [...Object.entries(vars).map(([k, v]) => `${k}=${v}`), "bash", script]);
    };

    it("does nothing on an empty volume (the entrypoint's initdb sets the password)", () => {
        const r = runInit({ PGDATA: path.join(server.dir, "empty"), HANZO_ADMIN_VERIFIER: "" });
        assert.deepStrictEqual(
            [r.status, r.stdout.trim()],
            [0, `apply-admin-password: no cluster in ${path.join(server.dir, "empty")} yet; the entrypoint's initdb sets the password`],
        );
    });

    it("applies a changed adminPassword at the next start: the old one is rejected, the provider's connection works", async () => {
        const rotated = await planWith("hanzo-k8s", { ...HANZO_K8S, adminPassword: "rotated-admin-password-0001" }, [
            "hanzo-sql:adminPassword",
        ]);
        registerSecret("rotated-admin-password-0001", "hanzo (rotated)");
        const secret = revealed(rotated, resource(rotated, TYPES.secret, "hanzo-sql-postgres-credentials")).stringData as Record<
            string,
            string
        >;
        const sts = resource(rotated, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        const init = sts.spec.template.spec.initContainers[0];
        assert.deepStrictEqual(init.command, ["bash", "-c", APPLY_ADMIN_PASSWORD_SCRIPT]);
        assert.strictEqual(
            secret["scram-verifier"],
            scramVerifier("rotated-admin-password-0001", secret["scram-verifier"].split("$")[1].split(":")[1]),
        );

        // The pod is rolled (its checksum annotation changed): the server stops, the init container runs, the server starts.
        const before = await planOf("hanzo-k8s");
        const annotation = (p: typeof before) =>
            (resource(p, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any).spec.template.metadata.annotations[
                "hanzo.ai/admin-password-checksum"
            ];
        assert.notStrictEqual(annotation(rotated), annotation(before));
        const stop = server.runAsPostgres(`${PG_BIN}/pg_ctl`, ["stop", "-D", server.dataDir, "-m", "fast", "-w"]);
        assert.strictEqual(stop.status, 0, stop.stderr);
        const r = runInit({ PGDATA: server.dataDir, HANZO_ADMIN_VERIFIER: secret["scram-verifier"] });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout.trim(), "apply-admin-password: the administrator's password is the Secret's");
        server.resume();

        assert.deepStrictEqual(await tryConnect(server.tcp("hanzo", server.adminPassword, "postgres")), {
            code: "28P01",
            message: 'password authentication failed for user "hanzo"',
        });
        const provider = revealed(rotated, resource(rotated, TYPES.pgProvider, "hanzo-sql-pg"));
        const c = (await tryConnect({
            host: "127.0.0.1",
            port: server.port,
            user: String(provider.username),
            password: String(provider.password),
            database: String(provider.database),
        })) as Client;
        assert.ok(c instanceof Client, JSON.stringify(c));
        assert.strictEqual(provider.sslmode, "disable");
        assert.deepStrictEqual(
            (
                await c.query("SELECT current_user, rolpassword = $1 AS same FROM pg_authid WHERE rolname = current_user", [
                    secret["scram-verifier"],
                ])
            ).rows,
            [{ current_user: "hanzo", same: true }],
        );
        await c.end();
        // A wrong value in the Secret fails the init container (the pod does not start with a broken password).
        const bad = runInit({ PGDATA: server.dataDir, HANZO_ADMIN_VERIFIER: "rotated-admin-password-0001" });
        assert.deepStrictEqual(
            [bad.status, bad.stderr.trim()],
            [1, "apply-admin-password: HANZO_ADMIN_VERIFIER must hold a SCRAM-SHA-256 verifier"],
        );
    });
});

describe("the harness's own check", function () {
    this.timeout(60_000);
    it("fails a server whose log holds a registered password in plain text", async () => {
        const server = await PgServer.start(renderedFiles(await planOf("hanzo-k8s")));
        const password = `leaky-${Math.random().toString(36).slice(2)}`;
        registerSecret(password, "leaky_user");
        server.psql(`CREATE ROLE leaky_user LOGIN PASSWORD ${quote(password)};`);
        assert.throws(() => server.stop(), {
            message: `test server on port ${server.port}: passwords in plain text in the server log (leaky_user) and pg_stat_statements (leaky_user)`,
        });
    });
});
