import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { policies } from "../../policies/all";
import { PROJECT_DIR } from "../../tools/plan/stackFile";

const GATE = path.join(PROJECT_DIR, "build", "tools", "gate.js");
const PLAN = path.join(PROJECT_DIR, "build", "tools", "plan.js");
const FIXTURE = path.join(PROJECT_DIR, "test", "fixtures", "handwritten-plan.json");

function run(script: string, args: string[]) {
    return spawnSync(process.execPath, [script, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
}

describe("the offline gate", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes ${stack} with zero violations (plan --policy)`, () => {
            const r = run(PLAN, ["--stack", stack, "--policy"]);
            assert.strictEqual(r.status, 0, r.stdout + r.stderr);
            assert.match(r.stdout, new RegExp(`^policies:\\n${stack}: 0 mandatory and 0 advisory violations of 10 policies$`, "m"));
        });
    }

    it("checks a hand-written plan just the same: exactly its violations, exit 1", () => {
        const r = run(GATE, [FIXTURE]);
        assert.strictEqual(r.status, 1);
        assert.deepStrictEqual(r.stdout.trimEnd().split("\n"), [
            "postgres-naming: billing-db (postgresql:index/database:Database): database \"billing\" is owned by \"hanzo\"; its owner must be its service role \"billing_user\", so the service can run its own migrations.",
            "postgres-naming: billing-role (postgresql:index/role:Role): role \"Billing_User\" must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere).",
            "no-superuser-roles: billing-role (postgresql:index/role:Role): role \"Billing_User\" has SUPERUSER; only \"hanzo\" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.",
            "maintenance-databases-closed: handwritten (pulumi:pulumi:Stack): database \"postgres\" is open to PUBLIC: add a Grant { database: \"postgres\", role: \"public\", objectType: \"database\", privileges: [] } (REVOKE ALL ON DATABASE postgres FROM PUBLIC), so no service role can connect.",
            "maintenance-databases-closed: handwritten (pulumi:pulumi:Stack): database \"template1\" is open to PUBLIC: add a Grant { database: \"template1\", role: \"public\", objectType: \"database\", privileges: [] } (REVOKE ALL ON DATABASE template1 FROM PUBLIC), so no service role can connect.",
            "required-extensions: billing-db (postgresql:index/database:Database): database \"billing\" lacks the extensions vector, pg_trgm, uuid-ossp, pg_stat_statements; every service database must have vector, pg_trgm, uuid-ossp, pg_stat_statements.",
            "required-extensions: handwritten (pulumi:pulumi:Stack): template1 lacks the extensions vector, pg_trgm, uuid-ossp, pg_stat_statements; a database created later by hand would not have them.",
            "workload-hardening: billing-api (kubernetes:apps/v1:Deployment): Deployment \"hanzo/billing-api\" container \"api\" image \"hanzoai/billing:latest\" must not use :latest, which is not reproducible (STANDARD defect 7); pin a version tag or digest.",
            "data-protection: billing-db (postgresql:index/database:Database): database \"billing\" is not protected; in a non-test (environment unknown) environment a destroy, rename or replacement would drop its data. Set protect: true.",
            "no-plaintext-secrets: billing-config (kubernetes:core/v1:ConfigMap): ConfigMap \"hanzo/billing\" key DATABASE_URL holds a connection string with a password in plain text; keep it in a Secret.",
            "no-plaintext-secrets: billing-api (kubernetes:apps/v1:Deployment): Deployment \"hanzo/billing-api\" container \"api\" env PGPASSWORD is a credential by its name in plain text; use valueFrom.secretKeyRef.",
            "handwritten: 11 mandatory and 0 advisory violations of 10 policies",
        ]);
    });

    it("takes enforcement levels from a pack config file: advisory reports and passes, disabled is silent", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gate-"));
        const config = path.join(dir, "config.json");
        fs.writeFileSync(config, JSON.stringify({
            "postgres-naming": "advisory",
            "no-superuser-roles": { enforcementLevel: "advisory" },
            "maintenance-databases-closed": "advisory",
            "required-extensions": "disabled",
            "workload-hardening": "advisory",
            "data-protection": { enforcementLevel: "advisory", environment: "prod" },
            "no-plaintext-secrets": "advisory",
        }));
        const r = run(GATE, [FIXTURE, "--config", config]);
        assert.strictEqual(r.status, 0, r.stdout);
        assert.ok(!r.stdout.includes("required-extensions"));
        assert.match(r.stdout, /^data-protection: billing-db .* in a prod environment /m);
        assert.match(r.stdout, /^handwritten: 0 mandatory and 9 advisory violations of 10 policies$/m);
        fs.rmSync(dir, { recursive: true });
    });

    it("says what is wrong with a file that is not a plan (exit 2)", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gate-"));
        fs.writeFileSync(path.join(dir, "x.json"), JSON.stringify({ resources: {} }));
        const r = run(GATE, [path.join(dir, "x.json")]);
        assert.strictEqual(r.status, 2);
        assert.strictEqual(r.stderr, `gate failed: ${path.join(dir, "x.json")} is not a plan: expected { "stack", "resources": [{ "type", "name", "urn", "inputs", ... }] } as npm run plan -- --json prints\n`);
        fs.rmSync(dir, { recursive: true });
    });
});

describe("the policy pack", () => {
    it("has one documented policy per name, mandatory by default", () => {
        const names = policies.map((p) => p.name);
        assert.deepStrictEqual(names, [
            "postgres-naming", "no-superuser-roles", "no-superuser-credentials", "maintenance-databases-closed", "required-extensions", "server-configuration",
            "workload-hardening", "network-isolation", "data-protection", "no-plaintext-secrets",
        ]);
        for (const p of policies) {
            assert.ok(p.description.length > 40, p.name);
            assert.strictEqual(p.enforcementLevel, undefined, `${p.name} takes the pack's level (mandatory) unless configured`);
        }
    });

    it("starts the way the Pulumi CLI starts it: PolicyPack constructed, its port printed, no error", async function () {
        const packDir = path.join(PROJECT_DIR, "policies");
        const runner = path.join(packDir, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack", "index.js");
        assert.ok(fs.existsSync(runner), "policies/node_modules is installed (npm ci --prefix policies)");
        // What pulumi-analyzer-policy runs: `node run-policy-pack <engine address> <pack dir>` in the pack dir,
        // which type-checks and compiles the TypeScript entry with the pack's own ts-node.
        const child = spawn(process.execPath, [runner, "127.0.0.1:0", "."], { cwd: packDir, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const port = await new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no port after 45 s; stderr: ${stderr}`)), 45_000);
            child.stdout.on("data", () => {
                const m = /^(\d+)\n/.exec(stdout);
                if (m) {
                    clearTimeout(timer);
                    resolve(m[1]);
                }
            });
            child.on("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
        });
        assert.ok(Number(port) > 0);
        assert.strictEqual(stderr, "");
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
    });
});
