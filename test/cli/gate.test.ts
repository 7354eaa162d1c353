import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";

const GATE = path.join(PROJECT_DIR, "build", "cli", "gate.js");
const PLAN = path.join(PROJECT_DIR, "build", "cli", "plan.js");
const FIXTURE = path.join(PROJECT_DIR, "test", "fixtures", "handwritten-plan.json");

function run(script: string, args: string[]) {
    return spawnSync(process.execPath, [script, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
}

describe("npm run gate (the pack started as the CLI starts it, over gRPC)", function () {
    this.timeout(180_000);
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gate-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("plan --policy passes a production stack: the closing count only, exit 0", () => {
        const r = run(PLAN, ["--stack", "lux-k8s", "--policy"]);
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /\npolicies:\nlux-k8s: 0 mandatory and 0 advisory violations of 19 policies\n$/);
    });

    it("checks a hand-written plan: Analyze's violations per resource, then AnalyzeStack's, exit 1", () => {
        const r = run(GATE, [FIXTURE]);
        assert.strictEqual(r.status, 1, r.stderr);
        assert.deepStrictEqual(r.stdout.trimEnd().split("\n"), [
            'no-superuser-roles: billing-role (postgresql:index/role:Role): role "Billing_User" has SUPERUSER; only "hanzo" administers the server, application roles have none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS.',
            'postgres-naming: billing-db (postgresql:index/database:Database): database "billing" is owned by "hanzo"; its owner must be its service role "billing_user", so the service can run its own migrations.',
            'postgres-naming: billing-role (postgresql:index/role:Role): role "Billing_User" must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere).',
            'maintenance-databases-closed: handwritten (pulumi:pulumi:Stack): database "postgres" is open to PUBLIC: add a Grant { database: "postgres", role: "public", objectType: "database", privileges: [] } (REVOKE ALL ON DATABASE postgres FROM PUBLIC), so no service role can connect.',
            'maintenance-databases-closed: handwritten (pulumi:pulumi:Stack): database "template1" is open to PUBLIC: add a Grant { database: "template1", role: "public", objectType: "database", privileges: [] } (REVOKE ALL ON DATABASE template1 FROM PUBLIC), so no service role can connect.',
            'required-extensions: billing-db (postgresql:index/database:Database): database "billing" lacks the extensions vector, pg_trgm, uuid-ossp, pg_stat_statements; every service database must have vector, pg_trgm, uuid-ossp, pg_stat_statements.',
            "required-extensions: handwritten (pulumi:pulumi:Stack): template1 lacks the extensions vector, pg_trgm, uuid-ossp, pg_stat_statements; a database created later by hand would not have them.",
            'workload-hardening: billing-api (kubernetes:apps/v1:Deployment): Deployment "hanzo/billing-api" container "api" image "hanzoai/billing:latest" must not use :latest, which is not reproducible (STANDARD defect 7); pin a version tag or digest.',
            `workload-identity: billing-api (kubernetes:apps/v1:Deployment): Deployment "hanzo/billing-api" runs as the namespace's default ServiceAccount; give it its own (serviceAccountName) with automountServiceAccountToken: false.`,
            'egress-isolation: billing-api (kubernetes:apps/v1:Deployment): Deployment "hanzo/billing-api": no NetworkPolicy with Egress in its policyTypes selects its pods, so they can reach any address; add one that allows only what they need.',
            'data-protection: billing-db (postgresql:index/database:Database): database "billing" is not protected; in a non-test (environment unknown) environment a destroy, rename or replacement would drop its data. Set protect: true.',
            'no-plaintext-secrets: billing-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/billing" key DATABASE_URL holds a connection string with a password in plain text; keep it in a Secret.',
            'no-plaintext-secrets: billing-api (kubernetes:apps/v1:Deployment): Deployment "hanzo/billing-api" container "api" env PGPASSWORD is a credential by its name in plain text; use valueFrom.secretKeyRef.',
            "handwritten: 13 mandatory and 0 advisory violations of 19 policies",
        ]);
    });

    it("takes levels and settings from a pack config file as the CLI does: advisory reports and passes, disabled is silent", () => {
        const config = path.join(dir, "config.json");
        fs.writeFileSync(
            config,
            JSON.stringify({
                all: "advisory",
                "required-extensions": "disabled",
                "no-superuser-roles": { enforcementLevel: "mandatory" },
                "data-protection": { environment: "prod" },
            }),
        );
        const r = run(GATE, [FIXTURE, "--config", config]);
        assert.strictEqual(r.status, 1, r.stdout + r.stderr);
        assert.ok(!r.stdout.includes("required-extensions"), r.stdout);
        assert.match(r.stdout, /^data-protection: billing-db .* in a prod environment /m);
        assert.match(r.stdout, /\nhandwritten: 1 mandatory and 10 advisory violations of 19 policies\n$/);
    });

    it("rejects a pack config its policies' schemas reject, every problem at once (exit 2)", () => {
        const config = path.join(dir, "bad-config.json");
        fs.writeFileSync(
            config,
            JSON.stringify({
                "data-protection": { environment: "production" },
                "network-isolation": { port: "5432" },
                "workload-hardening": "sometimes",
            }),
        );
        const r = run(GATE, [FIXTURE, "--config", config]);
        assert.strictEqual(r.status, 2, r.stdout + r.stderr);
        assert.strictEqual(r.stdout, "");
        assert.strictEqual(
            r.stderr,
            [
                "gate failed: the policy pack configuration is invalid:",
                '  parsing enforcement level for "workload-hardening": "sometimes" is not a valid enforcement level (advisory, mandatory, disabled, remediate)',
                "  network-isolation: port must be integer",
                '  data-protection: environment must be equal to one of the allowed values: "dev", "test", "staging", "prod"',
                "",
            ].join("\n"),
        );
    });

    it("says what is wrong with a file that is not a plan (exit 2)", () => {
        fs.writeFileSync(path.join(dir, "x.json"), JSON.stringify({ resources: {} }));
        const r = run(GATE, [path.join(dir, "x.json")]);
        assert.strictEqual(r.status, 2);
        assert.strictEqual(
            r.stderr,
            `gate failed: ${path.join(dir, "x.json")} is not a plan: expected { "stack", "resources": [{ "type", "name", "urn", "inputs", ... }] } as npm run plan -- --json prints\n`,
        );
    });

    it("--preview checks a plan made as a first preview, and refuses an update plan", () => {
        const preview = path.join(dir, "preview.json");
        const planned = run(PLAN, ["--stack", "hanzo-k8s", "--json", "--preview"]);
        assert.strictEqual(planned.status, 0, planned.stderr);
        fs.writeFileSync(preview, planned.stdout);
        const r = run(GATE, [preview, "--preview"]);
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        assert.strictEqual(r.stdout, "hanzo-k8s: 0 mandatory and 0 advisory violations of 19 policies\n");
        const update = path.join(dir, "update.json");
        fs.writeFileSync(update, run(PLAN, ["--stack", "hanzo-k8s", "--json"]).stdout);
        const refused = run(GATE, [update, "--preview"]);
        assert.strictEqual(refused.status, 2);
        assert.strictEqual(
            refused.stderr,
            `gate failed: ${update} was planned as an update; for a preview, plan it with: npm run plan -- --stack hanzo-k8s --json --preview\n`,
        );
    });
});
