import * as assert from "assert";
import { UNKNOWN } from "../../policies/standard/types";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { main } from "../../program";
import { TOKEN_ENV, planOf } from "../support/plan";
import { CONFIG_KEYS } from "../../stacks/load";
import { validatePlan } from "../../cli/plan/kubernetes";
import { runPlan } from "../../cli/plan/runner";
import { PROJECT_DIR, readProject, specOf, stackConfig } from "../../cli/plan/stackFile";

const PLAN = path.join(PROJECT_DIR, "build", "cli", "plan.js");

describe("npm run plan", () => {
    it("--json prints { stack, resources: [{ type, name, urn, parent, inputs, dependencies }] } with secrets redacted", () => {
        const out = execFileSync(process.execPath, [PLAN, "--stack", "lux-k8s", "--json"], { encoding: "utf8", maxBuffer: 64 << 20 });
        const plan = JSON.parse(out);
        assert.strictEqual(plan.stack, "lux-k8s");
        const db = plan.resources.find((r: any) => r.name === "hanzo-sql-gateway-database");
        assert.deepStrictEqual(Object.keys(db).sort(), [
            "custom",
            "dependencies",
            "inputs",
            "name",
            "options",
            "outputs",
            "parent",
            "propertyDependencies",
            "type",
            "urn",
        ]);
        assert.deepStrictEqual(db.propertyDependencies.owner, [
            "urn:pulumi:lux-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase$postgresql:index/role:Role::hanzo-sql-gateway-role",
        ]);
        assert.strictEqual(db.type, "postgresql:index/database:Database");
        assert.strictEqual(
            db.urn,
            "urn:pulumi:lux-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase$postgresql:index/database:Database::hanzo-sql-gateway-database",
        );
        assert.strictEqual(
            db.parent,
            "urn:pulumi:lux-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase::hanzo-sql-gateway",
        );
        assert.deepStrictEqual(db.dependencies, [
            "urn:pulumi:lux-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase$postgresql:index/role:Role::hanzo-sql-gateway-role",
        ]);
        const secret = plan.resources.find((r: any) => r.name === "hanzo-sql-gateway-connection");
        assert.strictEqual(secret.inputs.stringData.dsn, "[secret]");
        assert.strictEqual(secret.outputs.stringData.dsn, "[secret]");
        // A component's outputs are what it registered (AnalyzeStack reads them); a custom resource's, the mock's.
        const top = plan.resources.find((r: any) => r.type === "hanzo-sql:index:HanzoSql");
        // Its inputs are its args, as in pulumi-eks (super(type, name, args, opts)): the whole validated spec.
        assert.deepStrictEqual(
            [top.inputs, top.outputs],
            [
                { spec: JSON.parse(JSON.stringify(specOf(stackConfig("lux-k8s")))) },
                { adminSecret: "hanzo/postgres-credentials", environment: "prod" },
            ],
        );
        const password = plan.resources.find((r: any) => r.name === "hanzo-sql-gateway-password");
        assert.deepStrictEqual(password.outputs, { ...password.inputs, result: "[secret]" });
        assert.ok(!out.includes("p@ss:"), "no generated password appears anywhere in the plan");
    });

    it("prints a summary by default", () => {
        const out = execFileSync(process.execPath, [PLAN, "--stack", "hanzo-k8s"], { encoding: "utf8" });
        assert.match(out, /^stack hanzo-k8s: \d+ resources$/m);
        assert.match(out, /^ {2}hanzo_cloud +hanzo_cloud_user, protected; vector, pg_trgm, uuid-ossp, pg_stat_statements$/m);
        assert.match(
            out,
            /^ {2}hanzo\/iam-database: DATABASE_URL, DB_HOST, DB_NAME, DB_PASSWORD, DB_PORT, DB_SSLMODE, DB_USER, IAM_DATABASE_URL, dataSourceName, pgpass$/m,
        );
    });

    it("--out writes every Kubernetes object as YAML and the rendered files", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
        execFileSync(process.execPath, [PLAN, "--stack", "hanzo-k8s", "--out", dir], { encoding: "utf8" });
        assert.deepStrictEqual(fs.readdirSync(path.join(dir, "files")).sort(), [
            "drill.sh",
            "dump.sh",
            "fetch.sh",
            "hanzo-admin-search-path.sql",
            "init.sql",
            "lib.sh",
            "pg_hba.conf",
            "postgresql.conf",
            "prune.sh",
            "queries.yaml",
            "report.sh",
            "restore.sh",
            "stack.sh",
            "upload.sh",
        ]);
        assert.match(
            fs.readFileSync(path.join(dir, "files", "postgresql.conf"), "utf8"),
            /^shared_preload_libraries = 'pg_stat_statements'/m,
        );
        const k8sFiles = fs.readdirSync(path.join(dir, "kubernetes")).sort();
        assert.ok(
            k8sFiles.includes("statefulset-hanzo-postgres.yaml") && k8sFiles.includes("secret-hanzo-iam-database.yaml"),
            k8sFiles.join(" "),
        );
        const secret = yaml.load(fs.readFileSync(path.join(dir, "kubernetes", "secret-hanzo-iam-database.yaml"), "utf8")) as any;
        assert.strictEqual(secret.stringData.DB_PASSWORD, "[secret]");
        assert.ok(fs.existsSync(path.join(dir, "plan.json")));
        fs.rmSync(dir, { recursive: true });
    });

    it("fails with the configuration's problems and exit code 1 on bad input", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-"));
        fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        fs.writeFileSync(
            path.join(dir, "Pulumi.bad.yaml"),
            "config:\n  hanzo-sql:environment: prod\n  hanzo-sql:clusterName: c\n  hanzo-sql:services: [Cloud]\n",
        );
        const r = spawnSync(
            process.execPath,
            [
                "-e",
                `
            process.chdir(${JSON.stringify(dir)});
            const sf = require(${JSON.stringify(path.join(PROJECT_DIR, "build/cli/plan/stackFile.js"))});
            const { runPlan } = require(${JSON.stringify(path.join(PROJECT_DIR, "build/cli/plan/runner.js"))});
            const { main } = require(${JSON.stringify(path.join(PROJECT_DIR, "build/program.js"))});
            runPlan(sf.stackConfig("bad", undefined, ${JSON.stringify(dir)}), () => main(${JSON.stringify(TOKEN_ENV)}))
                .then(() => process.exit(0), (e) => { process.stderr.write(e.message); process.exit(1); });
        `,
            ],
            { encoding: "utf8" },
        );
        assert.strictEqual(r.status, 1);
        assert.strictEqual(
            r.stderr,
            'stack "bad": invalid configuration (1 problem); nothing was created:\n  - hanzo-sql:services[0].name = "Cloud": service name must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere)',
        );
        fs.rmSync(dir, { recursive: true });
        const usage = spawnSync(process.execPath, [PLAN], { encoding: "utf8" });
        assert.strictEqual(usage.status, 2, "a usage error");
        assert.match(usage.stderr, /^plan failed: --stack is required; stacks: dev, hanzo-k8s, lux-k8s, staging, test$/m);
    });

    it("--json --preview shows what a first preview knows: generated passwords and what is built from them are unknown", () => {
        const plan = JSON.parse(
            execFileSync(process.execPath, [PLAN, "--stack", "lux-k8s", "--json", "--preview"], { encoding: "utf8", maxBuffer: 64 << 20 }),
        );
        // The engine's marker, as pulumi/pulumi writes it (plugin.UnknownStringValue).
        assert.strictEqual(UNKNOWN, "04da6b54-80e4-46f7-96ec-b56ff0331ba9");
        const named = (name: string) => plan.resources.find((r: any) => r.name === name);
        assert.strictEqual(plan.preview, true);
        assert.strictEqual(named("hanzo-sql-gateway-role").inputs.password, UNKNOWN);
        assert.strictEqual(named("hanzo-sql-gateway-connection").inputs.stringData, UNKNOWN);
        assert.strictEqual(named("hanzo-sql-gateway-password").outputs.result, "[secret]", "a secret unknown is still redacted");
        // What the stack's configuration decides is known at preview.
        assert.strictEqual(named("hanzo-sql-gateway-database").inputs.name, "gateway");
        assert.strictEqual(named("hanzo-sql-backups-key").outputs.accessKey, UNKNOWN);
    });

    it("records every resource option the program sets, as the engine receives it", async () => {
        const result = await runPlan(stackConfig("opts", {}), () => {
            const first = new random.RandomPassword("first", { length: 8 });
            new random.RandomPassword(
                "second",
                { length: 9 },
                {
                    protect: true,
                    ignoreChanges: ["length"],
                    replaceOnChanges: ["special"],
                    customTimeouts: { create: "5m", delete: "1h30m" },
                    aliases: [{ name: "old-second" }, "urn:pulumi:opts::hanzo-sql::random:index/randomPassword:RandomPassword::older"],
                    additionalSecretOutputs: ["special"],
                    deleteBeforeReplace: true,
                    retainOnDelete: true,
                    deletedWith: first,
                },
            );
            return {};
        });
        const [first, second] = result.plan.resources;
        // @pulumi/random itself marks result and bcryptHash as secret outputs.
        assert.deepStrictEqual(first.options, { protect: false, retainOnDelete: false, additionalSecretOutputs: ["bcryptHash", "result"] });
        assert.deepStrictEqual(second.options, {
            protect: true,
            retainOnDelete: true,
            deletedWith: first.urn,
            ignoreChanges: ["length"],
            replaceOnChanges: ["special"],
            customTimeouts: { create: "5m", delete: "1h30m" },
            additionalSecretOutputs: ["special", "bcryptHash", "result"],
            deleteBeforeReplace: true,
            aliases: [
                "urn:pulumi:opts::hanzo-sql::random:index/randomPassword:RandomPassword::old-second",
                "urn:pulumi:opts::hanzo-sql::random:index/randomPassword:RandomPassword::older",
            ],
        });
    });

    it("fails on duplicate URNs, which the mock runtime would silently merge", async () => {
        await assert.rejects(
            runPlan(stackConfig("dup", {}), () => {
                new random.RandomPassword("same", { length: 8 });
                new random.RandomPassword("same", { length: 9 });
                return {};
            }),
            {
                message:
                    "duplicate URNs (two resources with one type and name; the second would replace the first):\n  urn:pulumi:dup::hanzo-sql::random:index/randomPassword:RandomPassword::same",
            },
        );
    });

    it("fails on a Kubernetes object that the Kubernetes schema rejects", async () => {
        const result = await runPlan(stackConfig("bad-k8s", {}), () => {
            new k8s.core.v1.Service("svc", { metadata: { name: "x" }, spec: { ports: [{ port: "http" as unknown as number }] } });
            new k8s.core.v1.ConfigMap("ok", { metadata: { name: "ok" }, data: { a: "b" } });
            return {};
        });
        assert.deepStrictEqual(validatePlan(result.plan.resources, result.revealed), [
            "kubernetes:core/v1:Service svc: /spec/ports/0/port must be integer",
        ]);
    });
});

describe("the program's entry point", () => {
    it("index.ts declares the stack and exports its outputs", async () => {
        const result = await runPlan(stackConfig("hanzo-k8s"), () => {
            Object.assign(process.env, { ...TOKEN_ENV, ...process.env });
            return { ...require("../../index") };
        });
        assert.deepStrictEqual(Object.keys(result.outputs).sort(), [
            "adminSecret",
            "backups",
            "connectionSecrets",
            "databases",
            "endpoint",
            "environment",
            "namespace",
            "roles",
        ]);
        assert.strictEqual(result.outputs.endpoint, "postgres.hanzo.svc:5432");
        // Exactly the resources `npm run plan` declares for the stack.
        assert.deepStrictEqual(
            result.plan.resources.map((r) => r.urn).sort(),
            (await planOf("hanzo-k8s")).plan.resources.map((r) => r.urn).sort(),
        );
    });

    it("creates nothing on bad input: the error comes before the first registration", async () => {
        let registered = 0;
        await pulumi.runtime.setMocks(
            { newResource: (a) => (registered++, { id: "x", state: a.inputs }), call: () => ({}) },
            "hanzo-sql",
            "bad",
        );
        pulumi.runtime.setAllConfig(
            stackConfig("bad", { environment: "prod", clusterName: "c", services: ["ok", "Bad-Name"], memoryLimit: "lots" }).config,
        );
        assert.throws(
            () => main(TOKEN_ENV),
            (e: Error) => {
                assert.ok(pulumi.RunError.isInstance(e), "a RunError: the CLI prints the message without a stack trace");
                assert.strictEqual(
                    e.message,
                    [
                        'stack "bad": invalid configuration (2 problems); nothing was created:',
                        '  - hanzo-sql:memoryLimit = "lots": must be a Kubernetes quantity, e.g. "2Gi" or "512Mi"',
                        '  - hanzo-sql:services[1].name = "Bad-Name": service name must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere)',
                    ].join("\n"),
                );
                return true;
            },
        );
        assert.strictEqual(registered, 0);
    });
});

describe("Pulumi.yaml", () => {
    it("declares every hanzo-sql key that has a default, with the type and default the program uses", () => {
        const declared = readProject().config ?? {};
        const expected = Object.entries(CONFIG_KEYS).filter(([, d]) => d.default !== undefined);
        assert.deepStrictEqual(Object.keys(declared).sort(), expected.map(([k]) => k).sort());
        for (const [key, decl] of expected) {
            const d = declared[key] as { type: string; default: unknown; description: string };
            assert.strictEqual(d.type, decl.type, key);
            assert.deepStrictEqual(d.default, decl.default, key);
            assert.strictEqual(d.description, decl.description, key);
        }
    });
});
