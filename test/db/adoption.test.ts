import * as assert from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { Client } from "pg";
import { ADOPTED_PGDATA, DATA_MOUNT } from "../../components/postgresInstance";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { renderPgHba } from "../../render/pgHba";
import { DATA_HOLDERS } from "../../policies/standard/replacement";
import { SEED_SETTINGS, serverSettings } from "../../policies/standard/settings";
import { PgServer } from "../harness/pg/server";
import { PROJECT_DIR, specOf, stackConfig } from "../../cli/plan/stackFile";
import { renderExtensionSql, renderInitSql } from "../../cli/sql/initSql";
import { verify } from "../../cli/verify/checks";
import { catalogSnapshot, renderedFiles, sqlstate, tryConnect } from "../support/db";
import { TYPES, ofType, planWith, resource } from "../support/plan";
import { HANZO_K8S_SERVICES } from "../support/hanzoK8s";

/**
 * Day 0 on a running cluster (STANDARD defect 19): hanzo-k8s already runs the seed's deployment. The
 * program adopts it: Kubernetes objects and PostgreSQL roles and databases by `import` (IDs from the
 * stack), PGDATA where the seed put it, each service's password left as the KMS holds it, and the seed's
 * differences converged. Proven on a server built exactly as HIP-29 instructs.
 */
const ADOPT = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    adopt: true,
    adminPassword: { secure: "the password in postgres-credentials" },
    services: HANZO_K8S_SERVICES,
};
const SERVICES = ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"];

describe("adopting the seed's deployment: the plan", () => {
    it("imports the seed's Kubernetes objects, roles and databases with IDs derived from the stack", async () => {
        const plan = await planWith("hanzo-k8s", ADOPT);
        const imports = plan.plan.resources.filter((r) => r.options.import !== undefined).map((r) => [r.type, r.name, r.options.import]);
        assert.deepStrictEqual(
            imports.sort(),
            [
                [TYPES.statefulSet, "hanzo-sql-postgres-statefulset", "hanzo/postgres"],
                [TYPES.service, "hanzo-sql-postgres-service", "hanzo/postgres"],
                [TYPES.secret, "hanzo-sql-postgres-credentials", "hanzo/postgres-credentials"],
                [TYPES.networkPolicy, "hanzo-sql-postgres-network-policy", "hanzo/postgres-network-policy"],
                ...SERVICES.flatMap((s) => [
                    [TYPES.role, `hanzo-sql-${s}-role`, `${s}_user`],
                    [TYPES.database, `hanzo-sql-${s}-database`, s],
                ]),
            ].sort(),
        );
    });

    it("forces server-side apply on every adopted Kubernetes object (Helm's or Argo CD's fields too), and keeps the Service's cluster IP", async () => {
        // With the KMS sync of one service, the seed's KMSSecret is adopted too.
        const values = {
            ...ADOPT,
            kmsEnabled: true,
            kmsProjectSlug: "hanzo",
            services: ADOPT.services.map((s) => (s === "cloud" ? { name: "cloud", kmsSync: true } : s)),
        };
        const forced = (plan: Awaited<ReturnType<typeof planWith>>) =>
            plan.plan.resources
                .filter(
                    (r) =>
                        r.type.startsWith("kubernetes:") && (r.inputs as any).metadata?.annotations?.["pulumi.com/patchForce"] === "true",
                )
                .map((r) => `${r.type} ${r.options.import ?? "(not imported)"}`)
                .sort();
        const adopted = await planWith("hanzo-k8s", values);
        assert.deepStrictEqual(
            forced(adopted),
            [
                "kubernetes:kms.hanzo.ai/v1:KMSSecret hanzo/cloud-database",
                "kubernetes:core/v1:PersistentVolumeClaimPatch (not imported)", // a patch of the claim the controller made, always forced
                `${TYPES.secret} hanzo/postgres-credentials`,
                `${TYPES.service} hanzo/postgres`,
                `${TYPES.statefulSet} hanzo/postgres`,
                `${TYPES.networkPolicy} hanzo/postgres-network-policy`,
            ].sort(),
        );
        // pulumi-kubernetes forces a replacement on a Service's clusterIP (diff.go); an imported one may not be
        // replaced, so the adopted Service keeps whatever the seed's has.
        assert.deepStrictEqual(resource(adopted, TYPES.service, "hanzo-sql-postgres-service").options.ignoreChanges, ["spec.clusterIP"]);
        const fresh = await planWith("hanzo-k8s", { ...values, adopt: false });
        assert.deepStrictEqual(forced(fresh), ["kubernetes:core/v1:PersistentVolumeClaimPatch (not imported)"]);
        assert.strictEqual(resource(fresh, TYPES.service, "hanzo-sql-postgres-service").options.ignoreChanges, undefined);
        assert.strictEqual((resource(fresh, TYPES.service, "hanzo-sql-postgres-service").inputs as any).spec.clusterIP, "None");
    });

    it("declares every replace-forcing field of the StatefulSet as the seed's live object has it, so the import only updates", async () => {
        // HIP-29's StatefulSet as the API server returns it (apps/v1 defaults filled in: podManagementPolicy,
        // revisionHistoryLimit); pulumi-kubernetes reads an imported object's inputs from it.
        const live: Record<string, unknown> = {
            "metadata.name": "postgres",
            "metadata.namespace": "hanzo",
            "spec.podManagementPolicy": "OrderedReady",
            "spec.revisionHistoryLimit": 10,
            "spec.selector": { matchLabels: { app: "postgres" } },
            "spec.serviceName": "postgres",
        };
        const sts = resource(await planWith("hanzo-k8s", ADOPT), TYPES.statefulSet, "hanzo-sql-postgres-statefulset");
        const holder = DATA_HOLDERS[TYPES.statefulSet];
        const compared = holder.replacedOn.filter((p) => !holder.ignoreChanges.includes(p));
        assert.deepStrictEqual(compared.sort(), Object.keys(live).sort());
        for (const p of compared) {
            assert.deepStrictEqual(
                p.split(".").reduce((o: any, k) => o?.[k], sts.inputs),
                live[p],
                p,
            );
        }
        assert.deepStrictEqual(sts.options.ignoreChanges, ["spec.volumeClaimTemplates"]);
    });

    it("keeps PGDATA at the volume's root, and no fsGroup that would make it group-writable", async () => {
        const plan = await planWith("hanzo-k8s", ADOPT);
        const pod = (resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any).spec.template.spec;
        const server = pod.containers[0];
        assert.strictEqual(ADOPTED_PGDATA, DATA_MOUNT);
        assert.deepStrictEqual(
            server.env.find((e: any) => e.name === "PGDATA"),
            { name: "PGDATA", value: "/var/lib/postgresql/data" },
        );
        assert.deepStrictEqual(server.volumeMounts[0], { name: "postgres-data", mountPath: "/var/lib/postgresql/data" });
        assert.strictEqual(server.lifecycle, undefined); // stopped by the image's STOPSIGNAL (fast shutdown), no hook
        assert.strictEqual(pod.securityContext.fsGroup, undefined);
        assert.strictEqual(pod.securityContext.fsGroupChangePolicy, undefined);
        assert.strictEqual(pod.securityContext.runAsUser, 999);
        // A fresh stack keeps the subdirectory (a new volume holds lost+found) and the fsGroup.
        const fresh = (
            resource(await planWith("hanzo-k8s", { ...ADOPT, adopt: false }), TYPES.statefulSet, "hanzo-sql-postgres-statefulset")
                .inputs as any
        ).spec.template.spec;
        assert.deepStrictEqual(
            fresh.containers[0].env.find((e: any) => e.name === "PGDATA"),
            { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
        );
        assert.deepStrictEqual([fresh.securityContext.fsGroup, fresh.securityContext.fsGroupChangePolicy], [999, "OnRootMismatch"]);
    });

    it("leaves each service's password alone: no password, the role's ignored, no connection Secret", async () => {
        const plan = await planWith("hanzo-k8s", ADOPT);
        for (const s of SERVICES) {
            const role = resource(plan, TYPES.role, `hanzo-sql-${s}-role`);
            assert.strictEqual(role.inputs.password, undefined, s);
            assert.deepStrictEqual(role.options.ignoreChanges, ["password"], s);
        }
        assert.deepStrictEqual(
            ofType(plan, TYPES.password)
                .map((r) => r.name)
                .filter((n) => SERVICES.some((s) => n === `hanzo-sql-${s}-password`)),
            [],
        );
        assert.deepStrictEqual(
            ofType(plan, TYPES.secret)
                .map((r) => (r.inputs as any).metadata.name)
                .sort(),
            ["postgres-backup-credentials", "postgres-credentials", "postgres-monitor-credentials"],
        );
        assert.deepStrictEqual(plan.outputs.connectionSecrets, {});
    });

    it("rotates one service on purpose: keepPassword false gives it the program's password and Secret", async () => {
        const services = ADOPT.services.map((s) => (s === "cloud" ? { name: "cloud", keepPassword: false } : s));
        const plan = await planWith("hanzo-k8s", { ...ADOPT, services });
        const role = resource(plan, TYPES.role, "hanzo-sql-cloud-role");
        assert.strictEqual(role.inputs.password, "[secret]");
        assert.strictEqual(role.options.ignoreChanges, undefined);
        assert.deepStrictEqual(plan.outputs.connectionSecrets, { cloud: "hanzo/cloud-database" });
        assert.strictEqual(resource(plan, TYPES.role, "hanzo-sql-iam-role").inputs.password, undefined);
    });

    it("refuses to adopt without the superuser's password, and to pool a service whose password it does not hold", () => {
        const { adminPassword: _, ...noPassword } = ADOPT;
        assert.throws(
            () => specOf(stackConfig("hanzo-k8s", noPassword)),
            (e: Error) => {
                assert.match(
                    e.message,
                    /hanzo-sql:adminPassword \(not set\): adopting a running server needs its superuser's password .*pulumi config set --secret adminPassword/,
                );
                return true;
            },
        );
        assert.throws(
            () => specOf(stackConfig("hanzo-k8s", { ...ADOPT, poolingEnabled: true, services: [{ name: "iam", pooled: true }] })),
            (e: Error) => {
                assert.match(
                    e.message,
                    /hanzo-sql:services\[0\]\.keepPassword = true: a pooled service needs the password in PgBouncer's userlist.*rotate first \(keepPassword: false\)/,
                );
                return true;
            },
        );
    });
});

/** The seed's postgresql.conf: HIP-29's values literally; no shared_preload_libraries (defect 2). */
function seedFiles(): { postgresqlConf: string; pgHba: string } {
    const keep = serverSettings(2 * 2 ** 30).filter((s) => ["listen_addresses", "port"].includes(s.name));
    const seed = Object.entries(SEED_SETTINGS).map(([name, value]) => ({
        name,
        value: /^[0-9.]+[a-zA-Z]*$|^(on|off|replica)$/.test(value) ? value : `'${value}'`,
        why: "HIP-29",
    }));
    return {
        postgresqlConf: renderPostgresqlConf(2 * 2 ** 30, [...keep, ...seed]),
        // HIP-29 §pg_hba.conf, with loopback where the pod network would be.
        pgHba: renderPgHba([
            { type: "local", database: "all", user: "all", method: "trust" },
            { type: "host", database: "all", user: "all", address: "127.0.0.1/32", method: "md5" },
            { type: "host", database: "all", user: "all", address: "0.0.0.0/0", method: "reject" },
        ]),
    };
}

/** A checksum of a table's rows, independent of their physical order. */
async function checksum(c: Client, table: string): Promise<string> {
    return (
        await c.query(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS sum, count(*) AS n FROM ${table} t`)
    ).rows.map((r) => `${r.n}:${r.sum}`)[0];
}

describe("adopting the seed's deployment: on a server built as HIP-29 instructs", function () {
    this.timeout(180_000);
    let server: PgServer;
    const spec = specOf(stackConfig("hanzo-k8s", ADOPT));
    /** Each service's password, as the KMS holds it: never changed by the adoption. */
    const old: Record<string, string> = Object.fromEntries(
        SERVICES.map((s) => [s, `${s}-kms:p@ss/w#rd?%'"\\ ${Math.random().toString(36).slice(2, 8)}`]),
    );
    /** The tables that hold data before the adoption, by database. */
    const TABLES: Record<string, string[]> = {
        iam: ['public."user"', "public.casbin_rule"],
        cloud: ["cloud.projects", "public.legacy_settings"],
        kms: ["public.secrets"],
        console: [],
        hanzo_cloud: ["public.documents"],
        platform: [],
    };
    const sums: Record<string, string> = {};
    let adoptionSql: string;

    const as = async (role: string, db: string) => {
        const c = await tryConnect(server.tcp(role, old[db], db));
        assert.ok(c instanceof Client, `${role} logs in to ${db} with its old password: ${JSON.stringify(c)}`);
        return c;
    };

    before(async () => {
        const plan = await planWith("hanzo-k8s", ADOPT);
        adoptionSql = renderInitSql(plan.plan, { adopt: true });
        // The seed's server: the image's entrypoint runs initdb with POSTGRES_USER, the password and no other
        // option (docker-library/postgres docker-entrypoint.sh, docker_init_database_dir), so PGDATA is the
        // volume's root, without data checksums; md5 in pg_hba; nothing preloaded.
        server = await PgServer.start(seedFiles(), {}, { initdbArgs: ["--encoding=UTF8", "--locale=C.UTF-8"] });
        // HIP-29 §User and Role Standard, per service, with the passwords the KMS bootstrap generated.
        for (const s of SERVICES) {
            server.psql(
                `CREATE DATABASE ${s};\nCREATE USER ${s}_user WITH PASSWORD :'pw';\nGRANT ALL PRIVILEGES ON DATABASE ${s} TO ${s}_user;\n`.replace(
                    ":'pw'",
                    `'${old[s].replace(/'/g, "''")}'`,
                ),
            );
        }
        // init-extensions.sh ran against the default database only; some services' migrations added some.
        server.psql("CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS pg_trgm VERSION '1.5';", {}, "kms");
        server.psql("CREATE EXTENSION IF NOT EXISTS pg_trgm VERSION '1.5';", {}, "iam");
        // Data. iam and kms ran their migrations as the superuser (PostgreSQL 15+ gives a GRANT ALL role no
        // CREATE in public), so hanzo owns those tables, with a sequence, an index, a view, a function and a type.
        server.psql(
            `
            CREATE TYPE user_kind AS ENUM ('person', 'service');
            CREATE TABLE "user" (id serial PRIMARY KEY, name text NOT NULL, kind user_kind NOT NULL DEFAULT 'person');
            CREATE INDEX user_name ON "user" (name);
            CREATE TABLE casbin_rule (id bigint GENERATED ALWAYS AS IDENTITY, ptype text, v0 text, v1 text);
            INSERT INTO "user" (name) SELECT 'user-' || g FROM generate_series(1, 500) g;
            INSERT INTO casbin_rule (ptype, v0, v1) SELECT 'p', 'role-' || g, '/api/' || g FROM generate_series(1, 200) g;
            CREATE VIEW people AS SELECT id, name FROM "user" WHERE kind = 'person';
            CREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM "user"';
        `,
            {},
            "iam",
        );
        server.psql(
            `
            CREATE TABLE secrets (id uuid PRIMARY KEY, name text, embedding vector(3));
            INSERT INTO secrets SELECT md5(g::text)::uuid, 'secret-' || g, ARRAY[g, g * 2, g * 3]::vector FROM generate_series(1, 300) g;
        `,
            {},
            "kms",
        );
        server.psql(
            "CREATE TABLE documents (id int PRIMARY KEY, body text); INSERT INTO documents SELECT g, repeat('x', g) FROM generate_series(1, 100) g;",
            {},
            "hanzo_cloud",
        );
        server.psql(
            "CREATE TABLE legacy_settings (k text PRIMARY KEY, v text); INSERT INTO legacy_settings VALUES ('a', '1'), ('b', '2');",
            {},
            "cloud",
        );
        // cloud's own migrations, as cloud_user: its database's CREATE lets it make a schema of its own.
        const cloud = await as("cloud_user", "cloud");
        await cloud.query(
            "CREATE SCHEMA cloud; CREATE TABLE cloud.projects (id serial PRIMARY KEY, name text); INSERT INTO cloud.projects (name) SELECT 'p' || g FROM generate_series(1, 50) g",
        );
        await cloud.end();
        for (const [db, tables] of Object.entries(TABLES)) {
            const c = await server.admin(db);
            for (const t of tables) {
                sums[`${db}.${t}`] = await checksum(c, t);
            }
            await c.end();
        }
    });
    after(() => server?.stop());

    it("fails the verifier before the adoption, naming what the seed did differently", async () => {
        const failed = (await verify(spec, server.adminUrl())).filter((r) => !r.ok).map((r) => r.object);
        for (const o of [
            "setting shared_preload_libraries",
            "database iam",
            "objects iam",
            "objects kms",
            "extension iam.pg_trgm",
            "extension cloud.vector",
            "extension template1.vector",
        ]) {
            assert.ok(failed.includes(o), `${o} in ${failed.join(", ")}`);
        }
        const iam = (await verify(spec, server.adminUrl())).find((r) => r.object === "objects iam")!;
        // Sequences a column owns and the table's indexes follow their table; the enum's array type follows the enum.
        assert.strictEqual(
            iam.detail,
            // The verifier's session resolves names in pg_catalog only (issue 21), so objects are schema-qualified.
            'has 5 objects iam_user does not own, so its migrations cannot alter them: function public.user_count() (hanzo), table public."user" (hanzo), table public.casbin_rule (hanzo), type public.user_kind (hanzo), view public.people (hanzo)',
        );
    });

    it("moves every extension to its pinned version before `up`, so the provider's create records that version in the same `up`", async () => {
        const plan = await planWith("hanzo-k8s", ADOPT);
        type Ext = { name: string; database: string; schema: string; version: string };
        const extensions = ofType(plan, TYPES.extension).map((r) => r.inputs as unknown as Ext);
        /**
         * The postgresql provider's create, then its read into the state, as it runs them
         * (resourcePostgreSQLExtensionCreate, resourcePostgreSQLExtensionReadImpl in
         * postgresql/resource_postgresql_extension.go, cyrilgdn/terraform-provider-postgresql; pq.QuoteIdentifier).
         */
        const providerCreate = async (e: Ext) => {
            const q = (v: string) => `"${v.replace(/"/g, '""')}"`;
            const c = await server.admin(e.database);
            try {
                await c.query(`CREATE EXTENSION IF NOT EXISTS ${q(e.name)} SCHEMA ${q(e.schema)} VERSION ${q(e.version)}`);
                const read = await c.query(
                    "SELECT n.nspname, e.extversion FROM pg_catalog.pg_extension e, pg_catalog.pg_namespace n WHERE n.oid = e.extnamespace AND e.extname = $1",
                    [e.name],
                );
                return read.rows[0];
            } finally {
                await c.end();
            }
        };
        // Without the step, the seed's pg_trgm 1.5 in iam stays, and the state records 1.5 against the declared
        // 1.6: a second `up` would be needed to run ALTER EXTENSION … UPDATE TO.
        const iamTrgm = extensions.find((e) => e.database === "iam" && e.name === "pg_trgm")!;
        assert.strictEqual(iamTrgm.version, "1.6");
        assert.deepStrictEqual(await providerCreate(iamTrgm), { nspname: "public", extversion: "1.5" });
        // The documented order: `init-sql --extensions` on the seed's server as it runs, then `pulumi up` (its
        // restart with the rendered configuration, then the provider's creates and reads).
        server.psql(renderExtensionSql(plan.plan));
        server.restart(renderedFiles(plan));
        assert.deepStrictEqual(
            extensions.map((e) => `${e.database}.${e.name}`).sort(),
            ["template1", ...SERVICES]
                .flatMap((db) => ["pg_stat_statements", "pg_trgm", "uuid-ossp", "vector"].map((x) => `${db}.${x}`))
                .sort(),
        );
        for (const e of extensions) {
            assert.deepStrictEqual(await providerCreate(e), { nspname: e.schema, extversion: e.version }, `${e.database}.${e.name}`);
        }
    });

    it("adopts with one restart: the program's configuration, then its SQL; verify passes with the old passwords", async () => {
        // `pulumi up` rolls the StatefulSet once with the rendered configuration (the one restart)...
        server.restart(renderedFiles(await planWith("hanzo-k8s", ADOPT)));
        // ...and converges roles, databases and extensions, with the objects handed to each service.
        server.psql(adoptionSql);
        const results = await verify(spec, server.adminUrl());
        assert.deepStrictEqual(
            results.filter((r) => !r.ok),
            [],
        );
        assert.deepStrictEqual(
            results.find((r) => r.object === "extension iam.pg_trgm"),
            { object: "extension iam.pg_trgm", ok: true, detail: "version 1.6" },
        );
        assert.deepStrictEqual(
            results.find((r) => r.object === "objects iam"),
            { object: "objects iam", ok: true, detail: "all owned by iam_user" },
        );
        // `npm run verify` against the stack file says the same.
        const cli = spawnSync(
            process.execPath,
            [path.join(PROJECT_DIR, "build", "cli", "verify.js"), "--stack", "hanzo-k8s", "--url", server.adminUrl()],
            { encoding: "utf8" },
        );
        assert.strictEqual(cli.status, 0, cli.stdout + cli.stderr);
        assert.match(cli.stdout, /checks, 0 failed\n$/);
        // The configuration is the program's: pg_stat_statements preloaded and queryable.
        const admin = await server.admin();
        assert.strictEqual((await admin.query("SHOW shared_preload_libraries")).rows[0].shared_preload_libraries, "pg_stat_statements");
        await admin.end();
    });

    it("keeps every table's data, byte for byte", async () => {
        for (const [db, tables] of Object.entries(TABLES)) {
            const c = await server.admin(db);
            for (const t of tables) {
                assert.strictEqual(await checksum(c, t), sums[`${db}.${t}`], `${db}.${t}`);
            }
            await c.end();
        }
    });

    it("lets every service log in with its old password over SCRAM and migrate its own tables", async () => {
        for (const s of SERVICES) {
            const c = await as(`${s}_user`, s);
            await c.query("CREATE TABLE adopted_migration (id int PRIMARY KEY); DROP TABLE adopted_migration");
            for (const t of TABLES[s]) {
                await c.query(`ALTER TABLE ${t} ADD COLUMN migrated_at timestamptz`);
                await c.query(`CREATE INDEX ON ${t} (migrated_at)`);
                await c.query(`ALTER TABLE ${t} DROP COLUMN migrated_at`);
            }
            await c.end();
        }
        const iam = await as("iam_user", "iam");
        assert.deepStrictEqual((await iam.query("INSERT INTO \"user\" (name) VALUES ('new') RETURNING id")).rows, [{ id: 501 }]);
        await iam.query("CREATE OR REPLACE VIEW people AS SELECT id, name, kind FROM \"user\" WHERE kind = 'person'");
        await iam.query("ALTER TYPE user_kind ADD VALUE 'bot'");
        assert.strictEqual(await sqlstate(iam, "SELECT * FROM pg_stat_statements LIMIT 1"), "");
        // Still nothing beyond its own database: the extensions stay the administrator's.
        assert.strictEqual(await sqlstate(iam, "DROP EXTENSION pg_trgm"), "42501");
        await iam.end();
        assert.deepStrictEqual(await tryConnect(server.tcp("iam_user", old.iam, "kms")), {
            code: "42501",
            message: 'permission denied for database "kms"',
        });
    });

    it("is idempotent: running the adoption again changes nothing", async () => {
        const first = await catalogSnapshot(server);
        server.psql(adoptionSql);
        assert.deepStrictEqual(await catalogSnapshot(server), first);
    });
});
