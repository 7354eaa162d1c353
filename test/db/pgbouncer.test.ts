import * as assert from "assert";
import { Client } from "pg";
import { randomBytes } from "crypto";
import { renderUserlist } from "../../render/pgbouncer";
import { SCRAM_SALT_BYTES, isScramVerifier, scramVerifier } from "../../render/scram";
import { PgbouncerServer } from "../harness/pg/pgbouncer";
import { registerSecret } from "../harness/pg/server";
import { mockPassword } from "../../cli/plan/runner";
import { StackServer, stackServer, tryConnect } from "../support/db";
import { TYPES, planWith, resource, revealed } from "../support/plan";

const CONFIG = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    backupEnabled: false,
    poolingEnabled: true,
    poolDefaultPoolSize: 2,
    poolMaxClientConn: 12,
    services: [{ name: "gateway", connection: "krakend", pooled: true }, { name: "commerce", pooled: true }, "cloud"],
};

describe("PgBouncer (transaction pooling) as declared", () => {
    it("renders pgbouncer.ini, the userlist Secret, a Deployment and Service, and points pooled services at it", async () => {
        const plan = await planWith("pooled", CONFIG);
        const ini = (resource(plan, TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs as any).data["pgbouncer.ini"] as string;
        assert.match(ini, /^gateway = host=postgres\.hanzo\.svc port=5432 dbname=gateway$/m);
        assert.match(ini, /^commerce = host=postgres\.hanzo\.svc port=5432 dbname=commerce$/m);
        assert.ok(!/^cloud =/m.test(ini), "an unpooled service has no pool");
        for (const line of [
            "pool_mode = transaction",
            "max_client_conn = 12",
            "default_pool_size = 2",
            "auth_type = scram-sha-256",
            "listen_port = 6432",
            "max_prepared_statements = 200",
        ]) {
            assert.ok(ini.split("\n").includes(line), line);
        }
        // Each pooled role's verifier, exactly the one the Role gives the server (SCRAM pass-through needs the same
        // salt and iterations on both sides), and no password anywhere in the Secret.
        const userlist = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-pgbouncer-userlist")).stringData as Record<string, string>;
        const verifierOf = (service: string) =>
            revealed(plan, resource(plan, "postgresql:index/role:Role", `hanzo-sql-${service}-role`)).password as string;
        assert.ok(isScramVerifier(verifierOf("gateway")) && isScramVerifier(verifierOf("commerce")));
        assert.deepStrictEqual(userlist, {
            "userlist.txt": `"gateway_user" "${verifierOf("gateway")}"\n"commerce_user" "${verifierOf("commerce")}"\n`,
        });
        for (const service of ["gateway", "commerce", "cloud"]) {
            assert.ok(
                !userlist["userlist.txt"].includes(mockPassword(`hanzo-sql-${service}-password`, true)),
                `${service}'s password is in the userlist`,
            );
        }
        const deployment = resource(plan, "kubernetes:apps/v1:Deployment", "hanzo-sql-pgbouncer-deployment").inputs as any;
        assert.strictEqual(deployment.spec.replicas, 2);
        assert.deepStrictEqual(deployment.spec.template.spec.containers[0].command, ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]);
        assert.strictEqual(deployment.spec.template.spec.containers[0].image, "edoburu/pgbouncer:v1.25.2-p0");
        assert.deepStrictEqual((resource(plan, TYPES.service, "hanzo-sql-pgbouncer-service").inputs as any).spec.ports, [
            { name: "pgbouncer", port: 6432, targetPort: "pgbouncer", protocol: "TCP" },
        ]);

        const gateway = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-gateway-connection")).stringData as Record<string, string>;
        const pw = encodeURIComponent(mockPassword("hanzo-sql-gateway-password", true));
        assert.strictEqual(gateway.DATABASE_URL, `postgresql://gateway_user:${pw}@pgbouncer.hanzo.svc:6432/gateway?sslmode=disable`);
        assert.strictEqual(gateway.dsn, gateway.DATABASE_URL);
        assert.deepStrictEqual([gateway.DB_HOST, gateway.DB_PORT], ["pgbouncer.hanzo.svc", "6432"]);
        assert.strictEqual(gateway.DIRECT_DATABASE_URL, `postgresql://gateway_user:${pw}@postgres.hanzo.svc:5432/gateway?sslmode=disable`);
        assert.strictEqual(gateway.PRISMA_PGBOUNCER_URL, `${gateway.DATABASE_URL}&pgbouncer=true`);
        const cloud = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-cloud-connection")).stringData as Record<string, string>;
        assert.strictEqual(cloud.DB_HOST, "postgres.hanzo.svc");
        assert.strictEqual(cloud.DIRECT_DATABASE_URL, undefined);
    });

    it("rejects a pooled service in a stack without a pooler", async () => {
        await assert.rejects(planWith("x", { ...CONFIG, poolingEnabled: false }), {
            message:
                'stack "x": invalid configuration (2 problems); nothing was created:\n' +
                "  - hanzo-sql:services[0].pooled = true: needs the stack's pooler: pulumi config set poolingEnabled true\n" +
                "  - hanzo-sql:services[1].pooled = true: needs the stack's pooler: pulumi config set poolingEnabled true",
        });
    });
});

describe("PgBouncer on real components (PgBouncer 1.2x from Debian's source package, PostgreSQL)", function () {
    this.timeout(120_000);
    let s: StackServer;
    let pooler: PgbouncerServer;

    // The plan's own credentials end to end: the server holds the verifiers the plan's Roles carry (as
    // `pulumi up` leaves it), PgBouncer reads the plan's userlist Secret verbatim, clients use the passwords
    // of the services' connection Secrets.
    const passwords: Record<string, string> = {};
    before(async () => {
        s = await stackServer(await planWith("pooled", CONFIG));
        for (const service of ["gateway", "commerce", "cloud"]) {
            const role = revealed(s.plan, resource(s.plan, "postgresql:index/role:Role", `hanzo-sql-${service}-role`));
            const secret = revealed(s.plan, resource(s.plan, TYPES.secret, `hanzo-sql-${service}-connection`)).stringData as Record<
                string,
                string
            >;
            passwords[`${service}_user`] = secret.DB_PASSWORD;
            registerSecret(secret.DB_PASSWORD, `${service}_user`);
            s.server.psql(`ALTER ROLE ${service}_user PASSWORD '${role.password as string}';`);
        }
        const ini = (resource(s.plan, TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs as any).data["pgbouncer.ini"] as string;
        const userlist = (
            revealed(s.plan, resource(s.plan, TYPES.secret, "hanzo-sql-pgbouncer-userlist")).stringData as Record<string, string>
        )["userlist.txt"];
        pooler = await PgbouncerServer.start(ini, userlist, s.server.port);
    });
    after(() => {
        pooler?.stop();
        s?.server.stop();
    });

    const viaPooler = (user: string, database: string) => ({
        host: "127.0.0.1",
        port: pooler.port,
        user,
        password: passwords[user],
        database,
    });

    it("lets a pooled service's role in with SCRAM, and only to its own database", async () => {
        const c = (await tryConnect(viaPooler("gateway_user", "gateway"))) as Client;
        assert.ok(c instanceof Client, JSON.stringify(c));
        assert.deepStrictEqual((await c.query("SELECT current_user, current_database()")).rows, [
            { current_user: "gateway_user", current_database: "gateway" },
        ]);
        await c.end();
        const wrong = await tryConnect({ ...viaPooler("gateway_user", "gateway"), password: "wrong" });
        assert.deepStrictEqual(wrong, { code: "08P01", message: "SASL authentication failed" });
        const unpooled = await tryConnect({
            ...viaPooler("gateway_user", "gateway"),
            user: "cloud_user",
            password: passwords.cloud_user,
            database: "cloud",
        });
        assert.ok(!(unpooled instanceof Client), "cloud is not pooled");
    });

    it("cannot log into the server when its verifier differs from the server's (same password, another salt): why the Role and the userlist share one", async () => {
        const ini = (resource(s.plan, TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs as any).data["pgbouncer.ini"] as string;
        const other = await PgbouncerServer.start(
            ini,
            renderUserlist([
                { user: "gateway_user", verifier: scramVerifier(passwords.gateway_user, randomBytes(SCRAM_SALT_BYTES).toString("base64")) },
            ]),
            s.server.port,
        );
        try {
            const c = await tryConnect({
                host: "127.0.0.1",
                port: other.port,
                user: "gateway_user",
                password: passwords.gateway_user,
                database: "gateway",
            });
            assert.ok(!(c instanceof Client), "PgBouncer logged into the server with a verifier the server does not hold");
            // The server's refusal, passed on (PgBouncer's own refusal of a client is 08P01 "SASL authentication failed").
            assert.deepStrictEqual(c, { code: "28P01", message: 'password authentication failed for user "gateway_user"' });
        } finally {
            other.stop();
        }
    });

    it("pools by transaction: ten clients share the two server connections of the pool", async () => {
        const clients = (await Promise.all(
            Array.from({ length: 10 }, () => tryConnect(viaPooler("commerce_user", "commerce"))),
        )) as Client[];
        try {
            const pids = new Set<number>();
            for (let round = 0; round < 3; round++) {
                const rows = await Promise.all(clients.map((c) => c.query("SELECT pg_backend_pid() AS pid")));
                rows.forEach((r) => pids.add(r.rows[0].pid));
            }
            assert.ok(pids.size >= 1 && pids.size <= 2, `server backends used: ${pids.size}`);
            const admin = await s.server.admin();
            const backends = (await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'commerce_user'")).rows[0]
                .n;
            await admin.end();
            assert.ok(backends <= 2, `${backends} server connections for 10 clients`);
            // Transaction semantics hold through the pool: a transaction keeps its server connection.
            const c = clients[0];
            await c.query("BEGIN");
            const a = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
            await c.query("CREATE TEMP TABLE IF NOT EXISTS scratch (i int) ON COMMIT DROP");
            const b = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
            await c.query("COMMIT");
            assert.strictEqual(a, b);
        } finally {
            await Promise.all(clients.map((c) => c.end()));
        }
    });

    it("refuses clients beyond max_client_conn", async () => {
        const clients = await Promise.all(Array.from({ length: 14 }, () => tryConnect(viaPooler("gateway_user", "gateway"))));
        const refused = clients.filter((c) => !(c instanceof Client)) as { code: string; message: string }[];
        await Promise.all(clients.filter((c): c is Client => c instanceof Client).map((c) => c.end()));
        assert.strictEqual(clients.length - refused.length, 12);
        assert.deepStrictEqual(refused[0], { code: "08P01", message: "no more connections allowed (max_client_conn)" });
    });
});
