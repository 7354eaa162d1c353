/**
 * The read-only PgBouncer pool on real servers (issue 24, docs/standbys.md "Reads"): a real PgBouncer (>= 1.21)
 * running the pgbouncer.ini the plan of a pooled stack with standbys renders, in front of a real primary and a
 * standby cloned by the pods' start script (render/scripts/replica-start.sh). A service's Secret, built by the
 * function the program calls (render/connection.ts), is used as the service would: its read URL is served by the
 * standby through the pool (and a write there fails with 25006), its write URL by the primary through the pool.
 *
 * Loopback stands in for the cluster: the ini's hosts `postgres.hanzo.svc` and `postgres-ro.hanzo.svc` are
 * 127.0.0.1 with the primary's and the standby's ports (PgBouncer's harness and `local` below do that mapping).
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import { Client } from "pg";
import { REPLICATION_ROLE, ReplicationSpec, standbySlot } from "../../policies/standard/replication";
import { serverSettings } from "../../policies/standard/settings";
import { hbaRules } from "../../policies/standard/pgHba";
import { renderPgHba } from "../../render/pgHba";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { connectionSecretData, pgpassAnyHost } from "../../render/connection";
import { scramVerifier } from "../../render/scram";
import { poolerEndpoint } from "../../components/pooler";
import { PgbouncerServer, serverUserlist } from "../harness/pg/pgbouncer";
import { startReplica } from "../harness/pg/replica";
import { ADMIN, PgServer, registerSecret } from "../harness/pg/server";
import { sqlstate } from "../support/db";
import { TYPES, planWith, resource } from "../support/plan";
import { POOLED_STANDBYS } from "../support/config";
import { until } from "../support/until";

const GiB = 2 ** 30;
const SPEC: ReplicationSpec = { standbys: 1, synchronousStandbys: 0 };
const FILES = {
    postgresqlConf: renderPostgresqlConf(GiB, serverSettings(GiB, undefined, { replication: { spec: SPEC, storageBytes: 10 * GiB } })),
    pgHba: renderPgHba(hbaRules(["127.0.0.1/32"], SPEC)),
};
const PRIMARY_HOST = "postgres.hanzo.svc";
const READ_HOST = "postgres-ro.hanzo.svc";

describe("the read-only PgBouncer pool on a real primary and standby", function () {
    this.timeout(300_000);
    let primary: PgServer;
    let standby: PgServer;
    let bouncer: PgbouncerServer;
    let secret: Record<string, string>;
    const password = randomBytes(18).toString("base64url") + "@:/#?%";
    registerSecret(password, "iam_user");
    const replicationPassword = randomBytes(24).toString("base64url");
    registerSecret(replicationPassword, REPLICATION_ROLE);
    const clients: Client[] = [];

    /** A URL of the Secret with the cluster's names replaced by loopback and the port DNS would lead to. */
    const local = (url: string): string => {
        const u = new URL(url);
        const ports: Record<string, number> = {
            [`${PRIMARY_HOST}:5432`]: primary.port,
            [`${READ_HOST}:5432`]: standby.port,
            [`${poolerEndpoint("hanzo").host}:6432`]: bouncer.port,
        };
        assert.ok(ports[u.host] !== undefined, `unexpected host ${u.host}`);
        u.port = String(ports[u.host]);
        u.hostname = "127.0.0.1";
        return u.toString();
    };
    const connect = async (key: string): Promise<Client> => {
        const c = new Client({ connectionString: local(secret[key]) });
        await c.connect();
        clients.push(c);
        return c;
    };

    before(async () => {
        primary = await PgServer.start(FILES);
        const verifier = scramVerifier(replicationPassword, randomBytes(16).toString("base64"));
        primary.psql(
            `CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '${verifier}';
             CREATE ROLE iam_user LOGIN PASSWORD '${scramVerifier(password, randomBytes(16).toString("base64"))}';
             CREATE DATABASE iam OWNER iam_user; REVOKE ALL ON DATABASE iam FROM PUBLIC;
             CREATE ROLE cloud_user LOGIN; CREATE DATABASE cloud OWNER cloud_user;`,
        );
        primary.psql(
            "CREATE TABLE t(id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100); ALTER TABLE t OWNER TO iam_user;",
            {},
            "iam",
        );
        const r = await startReplica({
            files: FILES,
            primaryPort: primary.port,
            slot: standbySlot(0),
            role: "standby",
            replicationPgpass: pgpassAnyHost("replication", REPLICATION_ROLE, replicationPassword),
            adminPgpass: `*:*:*:${ADMIN}:${primary.adminPassword}`,
            adminPassword: primary.adminPassword,
        });
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        standby = r.server;
        // The plan's own pgbouncer.ini (iam and cloud pooled, with standbys).
        const plan = await planWith("pooled-standbys", POOLED_STANDBYS);
        const ini = (resource(plan, TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs.data as Record<string, string>)["pgbouncer.ini"];
        bouncer = await PgbouncerServer.start(ini, await serverUserlist(primary, ["iam_user"]), {
            [PRIMARY_HOST]: primary.port,
            [READ_HOST]: standby.port,
        });
        // The Secret exactly as components/serviceDatabase.ts builds it for a pooled service with standbys.
        secret = connectionSecretData(
            { user: "iam_user", password, host: PRIMARY_HOST, port: 5432, database: "iam", sslmode: "disable" },
            "beego",
            poolerEndpoint("hanzo"),
            READ_HOST,
        );
    });

    after(async () => {
        await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
        bouncer?.stop();
        for (const s of [standby, primary]) {
            try {
                s?.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
    });

    it("serves DATABASE_READ_URL from the standby through the pool iam-ro, as the service's own role", async () => {
        assert.strictEqual(new URL(secret.DATABASE_READ_URL).pathname, "/iam-ro");
        assert.strictEqual(new URL(secret.DATABASE_READ_URL).host, "pgbouncer.hanzo.svc:6432");
        const read = await connect("DATABASE_READ_URL");
        const row = (
            await read.query(
                "SELECT pg_is_in_recovery() AS recovery, inet_server_port() AS port, current_user AS who, current_database() AS db, count(*)::int AS n FROM t",
            )
        ).rows[0];
        assert.deepStrictEqual(row, { recovery: true, port: standby.port, who: "iam_user", db: "iam", n: 100 });
        // A named (protocol-level) prepared statement works through the read pool too (max_prepared_statements).
        const named = await read.query({ name: "count-t", text: "SELECT count(*)::int AS n FROM t WHERE id > $1", values: [50] });
        assert.deepStrictEqual(named.rows, [{ n: 50 }]);
        const again = await read.query({ name: "count-t", text: "SELECT count(*)::int AS n FROM t WHERE id > $1", values: [90] });
        assert.deepStrictEqual(again.rows, [{ n: 10 }]);
    });

    it("refuses a write through the read pool with 25006 (read-only transaction)", async () => {
        const read = await connect("DATABASE_READ_URL");
        assert.strictEqual(await sqlstate(read, "INSERT INTO t VALUES (1000)"), "25006");
        // The client's connection is still usable afterwards.
        assert.deepStrictEqual((await read.query("SELECT 1 AS one")).rows, [{ one: 1 }]);
    });

    it("still leads DATABASE_URL (and IAM's keys) through the pool to the primary, and the write reaches the standby", async () => {
        assert.strictEqual(secret.IAM_DATABASE_URL, secret.DATABASE_URL);
        const write = await connect("DATABASE_URL");
        assert.deepStrictEqual((await write.query("SELECT pg_is_in_recovery() AS recovery, inet_server_port() AS port")).rows[0], {
            recovery: false,
            port: primary.port,
        });
        await write.query("INSERT INTO t VALUES (1001)");
        const read = await connect("DATABASE_READ_URL");
        await until(
            "the write to be replayed on the standby",
            async () => (await read.query("SELECT count(*)::int AS n FROM t WHERE id = 1001")).rows[0].n === 1,
        );
    });

    it("leads DIRECT_DATABASE_READ_URL to the standby's own port, for reads that need a session", async () => {
        const direct = await connect("DIRECT_DATABASE_READ_URL");
        assert.deepStrictEqual(
            (await direct.query("SELECT pg_is_in_recovery() AS recovery, inet_server_port() AS port, current_database() AS db")).rows[0],
            { recovery: true, port: standby.port, db: "iam" },
        );
    });

    it("leads the split read keys (host, port, database name) to the same pool", async () => {
        const c = new Client({
            host: secret.DB_READ_HOST === "pgbouncer.hanzo.svc" ? "127.0.0.1" : "unexpected",
            port: secret.DB_READ_PORT === "6432" ? bouncer.port : -1,
            database: secret.DB_READ_NAME,
            user: secret.DB_USER,
            password: secret.DB_PASSWORD,
        });
        await c.connect();
        clients.push(c);
        assert.deepStrictEqual((await c.query("SELECT pg_is_in_recovery() AS recovery, inet_server_port() AS port")).rows[0], {
            recovery: true,
            port: standby.port,
        });
    });
});
