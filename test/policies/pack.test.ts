import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { policies } from "../../policies/all";
import { gate } from "../../cli/gate";
import { PACK_DIR, PolicyAnalyzer } from "../../cli/gate/analyzer";
import { planFromValues } from "../../cli/plan";
import type { Plan } from "../../cli/plan/runner";
import { TOKEN_ENV } from "../support/plan";
import { TYPE, add, analyzer, find, gateLines, inputs, planCopy } from "../support/policy";

/** A stack with every optional part on: PgBouncer for two services, KMS sync for two (a test-only stack). */
export const POOLED_KMS = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    poolingEnabled: true,
    kmsEnabled: true,
    kmsProjectSlug: "hanzo",
    services: [
        { name: "iam", connection: "beego", pooled: true, kmsSync: true },
        { name: "cloud", pooled: true },
        { name: "kms", connection: "infisical", kmsSync: true },
        "console",
    ],
};

async function pooledKms(preview: boolean): Promise<Plan> {
    return JSON.parse(JSON.stringify((await planFromValues("pooled-kms", POOLED_KMS, [], TOKEN_ENV, preview)).engine));
}

describe("the policy pack under the engine's analyzer protocol", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "staging", "test", "dev", "pooled-kms"]) {
        for (const preview of [false, true]) {
            it(`passes ${stack} with zero diagnostics of any level, ${preview ? "as a first preview (passwords unknown)" : "as an update (AnalyzeStack on outputs)"}`, async () => {
                const plan = stack === "pooled-kms" ? await pooledKms(preview) : await planCopy(stack, preview);
                assert.strictEqual(plan.preview === true, preview);
                if (preview) {
                    assert.ok(
                        JSON.stringify(plan).includes("04da6b54-80e4-46f7-96ec-b56ff0331ba9"),
                        "a preview plan carries the engine's unknowns",
                    );
                }
                assert.deepStrictEqual(await gateLines(plan), [`${stack}: 0 mandatory and 0 advisory violations of 19 policies`]);
            });
        }
    }

    it("reads the environment from what HanzoSql registered as outputs, which is what AnalyzeStack receives", async () => {
        const plan = await planCopy("test");
        const hanzoSql = find(plan, TYPE.hanzoSql, "hanzo-sql");
        assert.deepStrictEqual(hanzoSql.outputs, { adminSecret: "hanzo-test/postgres-credentials", environment: "test" });
        // Inputs alone are not enough: the engine sends a component's outputs to AnalyzeStack.
        (hanzoSql as { outputs?: Record<string, unknown> }).outputs = { adminSecret: "hanzo-test/postgres-credentials" };
        const lines = await gateLines(plan);
        assert.strictEqual(lines[lines.length - 1], "test: 8 mandatory and 0 advisory violations of 19 policies");
        assert.ok(
            lines.some((l) =>
                l.startsWith(
                    'data-protection: hanzo-sql-iam-database (postgresql:index/database:Database): database "iam_test" is not protected; in a non-test (environment unknown)',
                ),
            ),
            lines.join("\n"),
        );
    });

    it("on a preview, skips whole parts not known yet (containers, rules, data) without an advisory or an error", async () => {
        const U = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
        const plan = await planCopy("hanzo-k8s", true);
        add(plan, TYPE.deployment, "later", {
            metadata: { name: "later", namespace: "hanzo", annotations: U },
            spec: {
                template: {
                    metadata: { labels: U },
                    spec: {
                        serviceAccountName: U,
                        automountServiceAccountToken: U,
                        containers: U,
                        initContainers: [{ name: "init", image: U, env: U, args: U }],
                    },
                },
            },
        });
        add(plan, TYPE.configMap, "later-config", { metadata: { name: U, namespace: "hanzo" }, data: U });
        add(plan, TYPE.role, "later-role", { name: U, login: true, roles: U, superuser: U });
        add(plan, TYPE.database, "later-db", { name: U, owner: U }, { options: { protect: true, retainOnDelete: true } });
        const np = find(plan, TYPE.networkPolicy, "postgres-network-policy");
        inputs(np).spec.ingress.push({ from: U, ports: [{ port: U }] });
        assert.deepStrictEqual(await gateLines(plan), ["hanzo-k8s: 0 mandatory and 0 advisory violations of 19 policies"]);
    });

    it("answers GetAnalyzerInfo with the pack's policies, each mandatory, with its config schema", async () => {
        const info = await (await analyzer()).info();
        assert.strictEqual(info.name, "hanzo-sql");
        assert.deepStrictEqual(
            info.policies.map((p) => [p.name, p.enforcementLevel]),
            policies.map((p) => [p.name, "mandatory"]),
        );
        const workload = info.policies.find((p) => p.name === "workload-hardening")!;
        assert.deepStrictEqual(workload.configSchema!.properties.minimumStorage, { type: "string", default: "50Gi" });
    });

    it("has one documented policy per name, mandatory by default", () => {
        assert.deepStrictEqual(
            policies.map((p) => p.name),
            [
                "postgres-naming",
                "no-superuser-roles",
                "no-superuser-credentials",
                "maintenance-databases-closed",
                "required-extensions",
                "server-configuration",
                "workload-hardening",
                "workload-identity",
                "network-isolation",
                "egress-isolation",
                "data-protection",
                "no-plaintext-secrets",
                "role-memberships",
                "cross-service-privileges",
                "safe-extensions",
                "no-external-exposure",
                "credentials-confined",
                "server-shape",
                "safe-server-settings",
            ],
        );
        for (const p of policies) {
            assert.ok(p.description.length > 40, p.name);
            assert.strictEqual(p.enforcementLevel, undefined, `${p.name} takes the pack's level (mandatory) unless configured`);
        }
    });
});

describe("the published pack (pulumi policy publish packs policies/ alone)", function () {
    this.timeout(300_000);
    let dir: string;
    let installed: PolicyAnalyzer | undefined;

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pack-"));
    });
    after(async () => {
        await installed?.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("npm pack + an offline install of the tarball serves the same verdicts through the analyzer", async () => {
        const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: PACK_DIR, encoding: "utf8" })
            .trim()
            .split("\n")
            .pop()!;
        execFileSync("tar", ["-xzf", path.join(dir, tarball), "-C", dir]);
        const packDir = path.join(dir, "package");
        // Only the pack's own files travel: nothing outside policies/ can be imported by it.
        const files = execFileSync("find", [".", "-type", "f"], { cwd: packDir, encoding: "utf8" }).trim().split("\n").sort();
        assert.ok(
            files.includes("./standard/rules.ts") && files.includes("./PulumiPolicy.yaml") && files.includes("./index.ts"),
            files.join(" "),
        );
        for (const f of files.filter((x) => x.endsWith(".ts"))) {
            const imports = [...fs.readFileSync(path.join(packDir, f), "utf8").matchAll(/from "(\.[^"]+)"/g)].map((m) =>
                path.resolve(path.dirname(path.join(packDir, f)), m[1]),
            );
            for (const i of imports) {
                assert.ok(
                    i.startsWith(packDir + path.sep) && fs.existsSync(`${i}.ts`),
                    `${f} imports ${i}, which the published pack lacks`,
                );
            }
        }
        fs.copyFileSync(path.join(PACK_DIR, "package-lock.json"), path.join(packDir, "package-lock.json"));
        execFileSync("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], {
            cwd: packDir,
            encoding: "utf8",
            stdio: "pipe",
        });

        installed = await PolicyAnalyzer.start(packDir);
        const compliant = await gate(await planCopy("hanzo-k8s"), {}, installed);
        assert.strictEqual(compliant.text, "hanzo-k8s: 0 mandatory and 0 advisory violations of 19 policies\n");
        const plan = await planCopy("hanzo-k8s");
        add(plan, TYPE.role, "rogue", { name: "rogue_user", login: true, superuser: true });
        const result = await gate(plan, {}, installed);
        assert.strictEqual(result.exitCode, 1);
        assert.ok(
            result.text.includes('no-superuser-roles: rogue (postgresql:index/role:Role): role "rogue_user" has SUPERUSER;'),
            result.text,
        );
    });
});
