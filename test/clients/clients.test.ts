import * as assert from "assert";
import { spawnSync } from "child_process";
import { connectionSecretData } from "../../render/connection";
import { PgbouncerServer, PGBOUNCER_BIN, serverUserlist } from "../harness/pg/pgbouncer";
import { PG_BIN, registerSecret } from "../harness/pg/server";
import { renderInitSql, passwordVariable } from "../../cli/sql/initSql";
import { StackServer, stackServer } from "../support/db";
import { readDoc, section } from "../support/docs";
import { TYPES, planWith, resource, revealed } from "../support/plan";
import {
    Exercise,
    ROUNDS,
    SESSIONS,
    goExercise,
    hostilePassword,
    knexExercise,
    nodePgExercise,
    postgresJsExercise,
    prismaClientModule,
    prismaExercise,
} from "./support";

type ClientName = "lib/pq" | "pgx" | "node-postgres" | "postgres.js" | "knex" | "Prisma 7 + adapter-pg";

/**
 * Which client each service uses and the keys it reads: the table "Which client reads which key" of docs/configuration.md
 * says the same (checked below). Pooled services reach PgBouncer through every key but DIRECT_DATABASE_URL.
 */
export const SERVICE_CLIENTS: readonly { service: string; clients: readonly ClientName[]; keys: readonly string[] }[] = [
    { service: "iam", clients: ["lib/pq"], keys: ["IAM_DATABASE_URL", "dataSourceName"] },
    { service: "cloud", clients: ["Prisma 7 + adapter-pg"], keys: ["DATABASE_URL", "DIRECT_DATABASE_URL", "PRISMA_PGBOUNCER_URL"] },
    { service: "console", clients: ["Prisma 7 + adapter-pg"], keys: ["DATABASE_URL"] },
    { service: "hanzo_cloud", clients: ["Prisma 7 + adapter-pg"], keys: ["DATABASE_URL"] },
    { service: "platform", clients: ["postgres.js"], keys: ["DATABASE_URL"] },
    { service: "kms", clients: ["knex"], keys: ["DB_CONNECTION_URI"] },
    { service: "commerce", clients: ["lib/pq", "pgx"], keys: ["DATABASE_URL", "DIRECT_DATABASE_URL"] },
    { service: "gateway", clients: ["pgx", "lib/pq"], keys: ["dsn"] },
    { service: "hanzo", clients: ["node-postgres", "postgres.js"], keys: ["DATABASE_URL", "DB_*", "DIRECT_DATABASE_URL"] },
];

/** Every shape the program renders, pooled and not: the services of the two production stacks. */
const CONFIG = {
    environment: "prod",
    clusterName: "clients",
    backupEnabled: false,
    monitoringEnabled: false,
    // Two server connections for six sessions: statements are prepared on one and used on another.
    poolingEnabled: true,
    poolDefaultPoolSize: 2,
    poolMaxClientConn: 100,
    services: [
        { name: "iam", connection: "beego" },
        { name: "kms", connection: "infisical" },
        "console",
        "hanzo_cloud",
        "platform",
        { name: "cloud", pooled: true },
        { name: "commerce", pooled: true },
        { name: "gateway", connection: "krakend", pooled: true },
        { name: "hanzo", pooled: true },
    ],
};
const POOLED = new Set(["cloud", "commerce", "gateway", "hanzo"]);
const SHAPES: Record<string, "url" | "beego" | "infisical" | "krakend"> = { iam: "beego", kms: "infisical", gateway: "krakend" };

describe("each service's own client with its rendered connection (real PostgreSQL and PgBouncer)", function () {
    this.timeout(240_000);
    let s: StackServer;
    let pooler: PgbouncerServer;
    const passwords: Record<string, string> = {};
    const secrets: Record<string, Record<string, string>> = {};

    before(async () => {
        s = await stackServer(await planWith("clients", CONFIG));
        // Give every service role a hostile password the generator can produce, through the program's own SQL.
        const env: Record<string, string> = { ...s.passwordEnv };
        for (const { service } of SERVICE_CLIENTS) {
            passwords[service] = hostilePassword();
            registerSecret(passwords[service], `${service}_user`); // the harness then proves it never reaches the server log
            env[passwordVariable(`${service}_user`)] = passwords[service];
        }
        s.server.psql(renderInitSql(s.plan.plan, { passwords: "env", env }));
        const ini = (resource(s.plan, TYPES.configMap, "hanzo-sql-pgbouncer-config").inputs as { data: Record<string, string> }).data[
            "pgbouncer.ini"
        ];
        pooler = await PgbouncerServer.start(
            ini,
            await serverUserlist(
                s.server,
                [...POOLED].map((svc) => `${svc}_user`),
            ),
            s.server.port,
        );
        for (const { service } of SERVICE_CLIENTS) {
            const direct = {
                user: `${service}_user`,
                password: passwords[service],
                host: "127.0.0.1",
                port: s.server.port,
                database: service,
                sslmode: "disable",
            };
            secrets[service] = connectionSecretData(
                direct,
                SHAPES[service] ?? "url",
                POOLED.has(service) ? { host: "127.0.0.1", port: pooler.port } : undefined,
            );
        }
        prismaClientModule();
    });
    after(() => {
        pooler?.stop();
        s?.server.stop();
    });

    it("renders, for each service, exactly the keys the program's Secret has (pointed at the local server)", () => {
        for (const { service } of SERVICE_CLIENTS) {
            const planned = revealed(s.plan, resource(s.plan, TYPES.secret, `hanzo-sql-${service}-connection`)).stringData as Record<
                string,
                string
            >;
            assert.deepStrictEqual(Object.keys(secrets[service]).sort(), Object.keys(planned).sort(), service);
        }
    });

    const expectGood = (r: Exercise, service: string) => {
        assert.deepStrictEqual(
            { user: r.user, database: r.database, columns: r.columns, ok: r.ok, failures: r.failures },
            {
                user: `${service}_user`,
                database: service,
                columns: ["id", "session", "round", "created"],
                ok: SESSIONS * ROUNDS,
                failures: [],
            },
        );
    };
    const route = (service: string, key: string) => (POOLED.has(service) && key !== "DIRECT_DATABASE_URL" ? "through PgBouncer" : "direct");

    for (const { service, clients, keys } of SERVICE_CLIENTS) {
        for (const client of clients) {
            for (const key of keys) {
                it(`${service}: ${client} with ${key} (${route(service, key)}), ${SESSIONS} sessions × ${ROUNDS} rounds of named prepared statements`, async () => {
                    const secret = secrets[service];
                    const table = `client_${client.replace(/[^a-z]/gi, "").toLowerCase()}_${key.replace(/[^a-z]/gi, "").toLowerCase()}`;
                    let r: Exercise;
                    if (client === "lib/pq" || client === "pgx") {
                        r = goExercise(client === "lib/pq" ? "pq" : "pgx", secret[key], table);
                    } else if (client === "node-postgres" || client === "postgres.js") {
                        // DB_*: the split keys, each handed to the client as its own field.
                        const config =
                            key === "DB_*"
                                ? {
                                      host: secret.DB_HOST,
                                      port: Number(secret.DB_PORT),
                                      user: secret.DB_USER,
                                      password: secret.DB_PASSWORD,
                                      database: secret.DB_NAME,
                                  }
                                : secret[key];
                        r = client === "node-postgres" ? await nodePgExercise(config, table) : await postgresJsExercise(config, table);
                    } else if (client === "knex") {
                        r = await knexExercise(secret, table);
                    } else {
                        r = await prismaExercise(secret[key]);
                    }
                    expectGood(r, service);
                });
            }
        }
    }

    it("PRISMA_PGBOUNCER_URL is Prisma's alone: libpq and postgres.js refuse it, so it is not named like a libpq URL", async () => {
        const r = spawnSync(`${PG_BIN}/psql`, ["-X", "-A", "-t", "-w", "-c", "SELECT 1", secrets.cloud.PRISMA_PGBOUNCER_URL], {
            encoding: "utf8",
            env: { PATH: process.env.PATH! },
        });
        assert.strictEqual(r.status, 2);
        assert.match(r.stderr, /invalid URI query parameter: "pgbouncer"/);
        // postgres.js sends the unknown parameter at startup; PgBouncer refuses it.
        const postgres = (await import("postgres")).default;
        const sql = postgres(secrets.cloud.PRISMA_PGBOUNCER_URL, { max: 1 });
        await assert.rejects(sql`SELECT 1`, /unsupported startup parameter: pgbouncer/);
        await sql.end();
    });

    it(`runs PgBouncer >= 1.21 (${PGBOUNCER_BIN})`, () => {
        const v = spawnSync(PGBOUNCER_BIN, ["--version"], { encoding: "utf8" }).stdout;
        const [, major, minor] = /^PgBouncer (\d+)\.(\d+)/.exec(v) ?? [];
        assert.ok(Number(major) > 1 || (Number(major) === 1 && Number(minor) >= 21), v);
    });
});

describe("docs/configuration.md: which client reads which key", () => {
    it("lists every service with the clients and keys the client tests run", () => {
        const table =
            section(readDoc("docs/configuration.md"), "Which client reads which key")
                .split("\n\n")
                .find((chunk) => chunk.startsWith("| service |")) ?? "";
        const rows = table
            .split("\n")
            .filter((l) => /^\| `/.test(l))
            .map((l) => l.split("|").map((c) => c.trim()));
        const listed = rows.map((c) => ({
            service: c[1].replace(/`/g, ""),
            clients: c[3].split(", ").map((x) => x.trim()),
            keys: [...c[4].matchAll(/`([^`]+)`/g)].map((m) => m[1]),
        }));
        assert.deepStrictEqual(
            listed,
            SERVICE_CLIENTS.map((x) => ({ service: x.service, clients: [...x.clients], keys: [...x.keys] })),
        );
    });
});
