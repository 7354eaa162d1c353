import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { redactSecrets } from "../../render/connection";
import { summarize, writePlanFiles } from "../../cli/plan/render";
import { mockPassword } from "../../cli/plan/runner";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { passwordVariable } from "../../cli/sql/initSql";
import { TYPES, ofType, planOf, planWith } from "../support/plan";

/** A password with every character a URL, a DSN or a shell trips over. */
const HOSTILE = `Hx'"\\ p@ss:w/rd?&=#%${Date.now()}`;
const BASE = { environment: "prod", clusterName: "hanzo-k8s", services: [{ name: "iam", connection: "beego" }, "cloud"] };

/** No form of the password (as is, percent-encoded, SQL- or DSN-escaped) in the text. */
function assertNoSecret(text: string, secret: string, where: string): void {
    for (const form of [
        secret,
        encodeURIComponent(secret),
        secret.replace(/'/g, "''"),
        secret.replace(/\\/g, "\\\\").replace(/'/g, "\\'"),
        "p@ss:w/rd",
    ]) {
        assert.ok(!text.includes(form), `${where} shows the password (${form.length} chars)`);
    }
}

const node = (script: string, args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [path.join(PROJECT_DIR, "build", "cli", script), ...args], {
        encoding: "utf8",
        env: { ...process.env, ...env },
    });

describe("tools never print a secret", function () {
    this.timeout(120_000);

    it("redacts every connection-string form: URL userinfo, ?password=, keyword DSN quoted and bare", () => {
        assert.strictEqual(
            redactSecrets("postgresql://iam_user:p%40ss@h:5432/iam?sslmode=disable"),
            "postgresql://iam_user:***@h:5432/iam?sslmode=disable",
        );
        // An unencoded @ or / in the password: everything up to the last @ is userinfo.
        assert.strictEqual(redactSecrets("see postgres://u:p@ss/w@rd@host/db now"), "see postgres://u:***@host/db now");
        assert.strictEqual(
            redactSecrets("postgresql://h/db?sslmode=disable&password=hunter2&x=1"),
            "postgresql://h/db?sslmode=disable&password=***&x=1",
        );
        assert.strictEqual(redactSecrets("postgresql://h/db?PASSWORD=hunter2#frag"), "postgresql://h/db?PASSWORD=***#frag");
        assert.strictEqual(redactSecrets("user='u' password='a b\\'c' host='h'"), "user='u' password=*** host='h'");
        assert.strictEqual(redactSecrets("host=h password=hunter2 dbname=d"), "host=h password=*** dbname=d");
        assert.strictEqual(redactSecrets("sslpassword = 'k' password= x"), "sslpassword = *** password= ***");
        assert.strictEqual(redactSecrets("postgresql://u@h/db"), "postgresql://u@h/db", "no password, nothing to hide");
        assertNoSecret(
            redactSecrets(
                `postgresql://u:${encodeURIComponent(HOSTILE)}@h/db user='u' password='${HOSTILE.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`,
            ),
            HOSTILE,
            "redactSecrets",
        );
    });

    it("config errors: a misspelt secret key by name only, a plain-text adminPassword redacted, a DSN in any key redacted", async () => {
        const err = await planWith(
            "hostile",
            {
                ...BASE,
                adminPasswrd: HOSTILE,
                adminPassword: HOSTILE,
                backupEndpoint: `postgresql://u:${encodeURIComponent(HOSTILE)}@h/db`,
                kmsHostApi: `https://kms.example/api?password=${encodeURIComponent(HOSTILE)}`,
                adminHost: `host=x password='${HOSTILE.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`,
            },
            ["hanzo-sql:adminPasswrd"],
        ).then(
            () => undefined,
            (e: Error) => e.message,
        );
        assert.ok(err, "the plan fails");
        assertNoSecret(err, HOSTILE, "the config error");
        const lines = err.split("\n");
        assert.ok(
            lines.some((l) => l.startsWith('  - hanzo-sql:adminPasswrd = "[secret]": unknown key; known keys:')),
            err,
        );
        assert.ok(
            lines.includes(
                '  - hanzo-sql:adminPassword = "[redacted]": is stored in plain text; set it with pulumi config set --secret adminPassword',
            ),
            err,
        );
        assert.ok(
            lines.some((l) => l.startsWith('  - hanzo-sql:backupEndpoint = "postgresql://u:***@h/db": must be an http(s) URL')),
            err,
        );
        assert.ok(
            lines.some((l) => l.startsWith('  - hanzo-sql:adminHost = "host=x password=***')),
            err,
        );
    });

    it("plan: the summary, the JSON and the written files outside Secrets carry no password", async () => {
        const result = await planWith("hostile", { ...BASE, adminPassword: HOSTILE }, ["hanzo-sql:adminPassword"]);
        const service = mockPassword("hanzo-sql-iam-password", true);
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "plan-credentials-"));
        try {
            const files = writePlanFiles(result, out);
            const texts = [
                summarize(result),
                JSON.stringify(result.plan),
                ...files
                    .filter((f) => !/secret/i.test(path.basename(f)))
                    .map((f) => fs.readFileSync(path.isAbsolute(f) ? f : path.join(out, f), "utf8")),
            ];
            for (const text of texts) {
                assertNoSecret(text, HOSTILE, "the plan");
                assertNoSecret(text, service, "the plan");
                assert.ok(!/SCRAM-SHA-256\$4096:/.test(text), "no verifier either");
            }
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });

    it("gate: violations about a leaked DSN and env password name the place, not the value", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gate-credentials-"));
        const file = path.join(dir, "plan.json");
        const leak = (n: string, inputs: Record<string, unknown>, type: string) => ({
            type,
            name: n,
            urn: `urn:pulumi:h::hanzo-sql::${type}::${n}`,
            inputs,
        });
        fs.writeFileSync(
            file,
            JSON.stringify({
                stack: "handwritten",
                resources: [
                    leak(
                        "cm",
                        {
                            apiVersion: "v1",
                            kind: "ConfigMap",
                            metadata: { name: "cm", namespace: "hanzo" },
                            data: {
                                DATABASE_URL: `postgresql://u:${encodeURIComponent(HOSTILE)}@h/db`,
                                dsn: `user=u password='${HOSTILE.replace(/'/g, "\\'")}'`,
                            },
                        },
                        "kubernetes:core/v1:ConfigMap",
                    ),
                    leak(
                        "app",
                        {
                            apiVersion: "apps/v1",
                            kind: "Deployment",
                            metadata: { name: "app", namespace: "hanzo" },
                            spec: {
                                template: {
                                    spec: {
                                        containers: [
                                            {
                                                name: "app",
                                                image: "app:1",
                                                env: [{ name: "DB_PASSWORD", value: HOSTILE }],
                                                args: [`--dsn=postgresql://u:${HOSTILE}@h/db`],
                                            },
                                        ],
                                    },
                                },
                            },
                        },
                        "kubernetes:apps/v1:Deployment",
                    ),
                ],
            }),
        );
        try {
            const r = node("gate.js", [file]);
            assert.strictEqual(r.status, 1, r.stderr);
            assert.match(r.stdout, /no-plaintext-secrets: cm \(kubernetes:core\/v1:ConfigMap\)/);
            assert.match(r.stdout, /no-plaintext-secrets: app \(kubernetes:apps\/v1:Deployment\)/);
            assertNoSecret(r.stdout + r.stderr, HOSTILE, "the gate");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("init-sql: verifiers only, and a missing password named by its variable", async () => {
        const roles = ofType(await planOf("test"), TYPES.role).map((r) => String(r.inputs.name));
        const env = Object.fromEntries(roles.map((r) => [passwordVariable(r), HOSTILE]));
        const ok = node("initSql.js", ["--stack", "test", "--passwords", "env"], env);
        assert.strictEqual(ok.status, 0, ok.stderr);
        assert.match(ok.stdout, /^ALTER ROLE "\w+" PASSWORD 'SCRAM-SHA-256\$4096:/m);
        assertNoSecret(ok.stdout + ok.stderr, HOSTILE, "init-sql");
        const missing = node("initSql.js", ["--stack", "test", "--passwords", "env"], { ...env, [passwordVariable(roles[0])]: "" });
        assert.strictEqual(missing.status, 1);
        assert.strictEqual(
            missing.stderr,
            `init-sql failed: not set: ${passwordVariable(roles[0])} (each must hold its role's password)\n`,
        );
        assertNoSecret(missing.stdout + missing.stderr, HOSTILE, "init-sql");
    });

    it("verify: a URL with a password in userinfo and query, or a keyword DSN, is never echoed", () => {
        for (const url of [
            `postgresql://hanzo:${encodeURIComponent(HOSTILE)}@127.0.0.1:1/postgres?sslmode=disable&password=${encodeURIComponent(HOSTILE)}`,
            `host=127.0.0.1 port=1 user=hanzo password='${HOSTILE.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`,
        ]) {
            for (const json of [[], ["--json"]]) {
                const r = node("verify.js", ["--stack", "hanzo-k8s", "--url", url, ...json]);
                assert.strictEqual(r.status, 2, r.stdout);
                assert.match(r.stderr, /^verify failed to run: /);
                assertNoSecret(r.stdout + r.stderr, HOSTILE, "verify");
            }
        }
    });
});
