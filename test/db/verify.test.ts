import * as assert from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { PgServer } from "../harness/pg/server";
import { PROJECT_DIR, specOf, stackConfig } from "../../cli/plan/stackFile";
import { renderInitSql } from "../../cli/sql/initSql";
import { CheckResult, verify } from "../../cli/verify/checks";
import { renderedFiles } from "../support/db";
import { planOf } from "../support/plan";

const VERIFY = path.join(PROJECT_DIR, "build", "cli", "verify.js");

describe("npm run verify (ADR-60 live validation)", function () {
    this.timeout(120_000);
    let server: PgServer;
    // hanzo-k8s, with tables the iam service declares as required.
    const spec = specOf(
        stackConfig("hanzo-k8s", {
            environment: "prod",
            clusterName: "hanzo-k8s",
            services: [
                { name: "iam", connection: "beego", requiredTables: ["user", "casbin_rule"] },
                "cloud",
                "console",
                "hanzo_cloud",
                { name: "kms", connection: "infisical" },
                "platform",
            ],
        }),
    );

    const failures = async () =>
        (await verify(spec, server.adminUrl())).filter((r) => !r.ok).map(({ object, detail, fix }) => ({ object, detail, fix }));
    // The administrator acting by hand in a service's database: its role setting resolves names in pg_catalog
    // only (issue 21), so these sessions name the schema they mean.
    const admin = (sql: string, db = "postgres") => server.psql(`SET search_path = public, pg_catalog; ${sql}`, {}, db);

    before(async () => {
        const plan = await planOf("hanzo-k8s");
        server = await PgServer.start(renderedFiles(plan));
        server.psql(renderInitSql(plan.plan));
        // iam's migrations made its tables: they belong to iam_user.
        admin('SET ROLE iam_user; CREATE TABLE "user" (id int); CREATE TABLE casbin_rule (id int);', "iam");
    });
    after(() => server?.stop());

    it("passes on a server built from the stack: every check, with extension versions", async () => {
        const results = await verify(spec, server.adminUrl());
        assert.deepStrictEqual(
            results.filter((r) => !r.ok),
            [],
        );
        const objects = results.map((r) => r.object);
        for (const o of [
            "setting shared_buffers",
            "setting shared_preload_libraries",
            "superusers",
            "role iam_user",
            "database iam",
            "extension iam.vector",
            "extension template1.pg_stat_statements",
            "table iam.user",
            "table iam.casbin_rule",
        ]) {
            assert.ok(objects.includes(o), o);
        }
        assert.deepStrictEqual(
            results.find((r) => r.object === "extension kms.vector"),
            { object: "extension kms.vector", ok: true, detail: "version 0.8.0" },
        );
        // Existence/owner and access for each of the 6 service databases, and access for postgres and template1.
        assert.deepStrictEqual(
            results
                .filter((r) => r.object.startsWith("database "))
                .map((r) => r.object)
                .sort(),
            ["cloud", "console", "hanzo_cloud", "iam", "kms", "platform"]
                .flatMap((d) => [`database ${d}`, `database ${d}`])
                .concat(["database postgres", "database template1"])
                .sort(),
        );
    });

    const drifts: [string, string, string, Pick<CheckResult, "object" | "detail" | "fix">[]][] = [
        [
            "a role made superuser",
            "ALTER ROLE cloud_user SUPERUSER",
            "ALTER ROLE cloud_user NOSUPERUSER",
            [
                {
                    object: "role cloud_user",
                    detail: "is a superuser; only the administrator may be",
                    fix: 'ALTER ROLE "cloud_user" NOSUPERUSER',
                },
                {
                    object: "role cloud_user",
                    detail: "has SUPERUSER",
                    fix: 'ALTER ROLE "cloud_user" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS CONNECTION LIMIT -1',
                },
            ],
        ],
        [
            "a role given a membership and CREATEDB",
            "GRANT pg_read_all_data TO kms_user; ALTER ROLE kms_user CREATEDB",
            "REVOKE pg_read_all_data FROM kms_user; ALTER ROLE kms_user NOCREATEDB",
            [
                {
                    object: "role kms_user",
                    detail: "has CREATEDB; is a member of pg_read_all_data",
                    fix: 'ALTER ROLE "kms_user" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS CONNECTION LIMIT -1; REVOKE "pg_read_all_data" FROM "kms_user"',
                },
            ],
        ],
        [
            "CONNECT granted to PUBLIC",
            "GRANT CONNECT ON DATABASE console TO PUBLIC",
            "REVOKE ALL ON DATABASE console FROM PUBLIC",
            [
                {
                    object: "database console",
                    detail: "PUBLIC can connect, so every role can",
                    fix: 'REVOKE ALL ON DATABASE "console" FROM PUBLIC',
                },
            ],
        ],
        [
            "another service's role granted CONNECT",
            "GRANT CONNECT ON DATABASE platform TO iam_user",
            "REVOKE ALL ON DATABASE platform FROM iam_user",
            [
                {
                    object: "database platform",
                    detail: "other services' roles can connect: iam_user",
                    fix: 'REVOKE ALL ON DATABASE "platform" FROM "iam_user"',
                },
            ],
        ],
        [
            "a setting changed",
            "ALTER SYSTEM SET work_mem = '64MB'; SELECT pg_reload_conf()",
            "ALTER SYSTEM RESET work_mem; SELECT pg_reload_conf()",
            [
                {
                    object: "setting work_mem",
                    detail: "is 64MB; the stack renders 4MB",
                    fix: "restore the rendered postgresql.conf (pulumi up), remove ALTER SYSTEM overrides (ALTER SYSTEM RESET), then reload or restart",
                },
            ],
        ],
        [
            "the owner changed",
            "ALTER DATABASE hanzo_cloud OWNER TO hanzo",
            "ALTER DATABASE hanzo_cloud OWNER TO hanzo_cloud_user",
            [
                {
                    object: "database hanzo_cloud",
                    detail: "is owned by hanzo, not hanzo_cloud_user",
                    fix: 'ALTER DATABASE "hanzo_cloud" OWNER TO "hanzo_cloud_user"',
                },
            ],
        ],
        [
            "a password stored as MD5",
            "SET password_encryption = 'md5'; ALTER ROLE console_user PASSWORD 'from-the-kms'",
            "ALTER ROLE console_user PASSWORD 'from-the-kms'",
            [
                {
                    object: "role console_user",
                    detail: "has an MD5 password verifier, which scram-sha-256 authentication rejects",
                    fix: "set the same password again (from the KMS) so it is stored as SCRAM: psql -c '\\password console_user'",
                },
            ],
        ],
    ];
    for (const [what, drift, undo, expected] of drifts) {
        it(`fails on ${what}, naming the object and the fix`, async () => {
            admin(drift);
            try {
                assert.deepStrictEqual(await failures(), expected);
            } finally {
                admin(undo);
            }
            assert.deepStrictEqual(await failures(), []);
        });
    }

    it("fails on a dropped extension and a missing table", async () => {
        admin("DROP EXTENSION pg_trgm; DROP TABLE casbin_rule;", "iam");
        try {
            assert.deepStrictEqual(await failures(), [
                {
                    object: "extension iam.pg_trgm",
                    detail: "is not installed",
                    fix: 'CREATE EXTENSION IF NOT EXISTS "pg_trgm" WITH SCHEMA public (connected to iam, as hanzo)',
                },
                { object: "table iam.casbin_rule", detail: "does not exist", fix: "run iam's migrations against iam" },
            ]);
        } finally {
            admin("CREATE EXTENSION pg_trgm SCHEMA public; SET ROLE iam_user; CREATE TABLE casbin_rule (id int);", "iam");
        }
    });

    it("fails on an extension at another version than the stack pins, and on a table the service does not own", async () => {
        admin(
            "DROP EXTENSION pg_trgm; CREATE EXTENSION pg_trgm VERSION '1.5' SCHEMA public; ALTER TABLE casbin_rule OWNER TO hanzo",
            "iam",
        );
        try {
            assert.deepStrictEqual(await failures(), [
                {
                    object: "extension iam.pg_trgm",
                    detail: "version 1.5; the stack pins 1.6",
                    fix: "pulumi up (extensionVersions), or: ALTER EXTENSION \"pg_trgm\" UPDATE TO '1.6' (connected to iam, as hanzo)",
                },
                {
                    object: "objects iam",
                    detail: "has 1 object iam_user does not own, so its migrations cannot alter them: table public.casbin_rule (hanzo)",
                    fix: "npm run -s init-sql -- --stack hanzo-k8s --adopt | psql -v ON_ERROR_STOP=1 -d postgres (hands each to iam_user)",
                },
            ]);
        } finally {
            admin("ALTER EXTENSION pg_trgm UPDATE TO '1.6'; ALTER TABLE casbin_rule OWNER TO iam_user", "iam");
        }
        assert.deepStrictEqual(await failures(), []);
    });

    it("fails on a missing database and a missing role", async () => {
        admin("DROP DATABASE platform; DROP ROLE platform_user");
        const fix = "pulumi up, or: npm run init-sql -- --stack hanzo-k8s | psql -v ON_ERROR_STOP=1 -d postgres";
        assert.deepStrictEqual(await failures(), [
            { object: "role platform_user", detail: "does not exist", fix },
            { object: "database platform", detail: "does not exist", fix },
        ]);
    });

    it("the CLI prints the report, exits 1 on failure, and never prints the password", () => {
        const r = spawnSync(process.execPath, [VERIFY, "--stack", "hanzo-k8s", "--url", server.adminUrl()], { encoding: "utf8" });
        assert.strictEqual(r.status, 1);
        const lines = r.stdout.split("\n");
        assert.strictEqual(lines[0], `stack hanzo-k8s against postgresql://hanzo:***@127.0.0.1:${server.port}/postgres?sslmode=disable`);
        assert.strictEqual(lines[1], "  FAIL  role platform_user: does not exist");
        assert.ok(!r.stdout.includes(server.adminPassword));
        assert.match(r.stdout, /^\d+ checks, 2 failed$/m);
        const json = JSON.parse(
            spawnSync(process.execPath, [VERIFY, "--stack", "hanzo-k8s", "--url", server.adminUrl(), "--json"], { encoding: "utf8" })
                .stdout,
        );
        assert.strictEqual(json.failed, 2);
        assert.deepStrictEqual(
            json.checks.find((c: any) => c.object === "role platform_user"),
            {
                object: "role platform_user",
                ok: false,
                detail: "does not exist",
                fix: "pulumi up, or: npm run init-sql -- --stack hanzo-k8s | psql -v ON_ERROR_STOP=1 -d postgres",
            },
        );
        const bad = spawnSync(
            process.execPath,
            [VERIFY, "--stack", "hanzo-k8s", "--url", `postgresql://hanzo:wrong@127.0.0.1:${server.port}/postgres`],
            { encoding: "utf8" },
        );
        assert.strictEqual(bad.status, 2);
        assert.strictEqual(bad.stderr, 'verify failed to run: password authentication failed for user "hanzo"\n');
    });
});
