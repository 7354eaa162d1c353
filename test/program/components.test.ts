import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PostgresBackups } from "../../components/backups";
import { Pgbouncer } from "../../components/pooler";
import { PostgresInstance } from "../../components/postgresInstance";
import { ServiceDatabase } from "../../components/serviceDatabase";
import { runPlan } from "../../cli/plan/runner";
import { on } from "../support/config";
import * as fs from "fs";
import * as path from "path";
import { hardenedContainer, hardenedPod } from "../../render/securityContext";
import { workloads } from "../harness/pod/plan";
import { PROJECT_DIR, specOf, stackConfig } from "../../cli/plan/stackFile";
import { planOf, planWith, revealed } from "../support/plan";

const ADMIN = `admin-${Date.now()}-Pa55word`;
const ACCESS_KEY_ID = `AKIA${Date.now()}XYZ`;
const SECRET_ACCESS_KEY = `s3cr3t/${Date.now()}+key`;

describe("components: args in state (secrets encrypted), ResourceError before any child", function () {
    this.timeout(120_000);

    it("every component registers its args as its inputs, each secret field as a secret", async () => {
        const plan = await planWith(
            "components",
            {
                environment: "prod",
                clusterName: "c",
                services: [{ name: "iam", pooled: true }, "cloud"],
                poolingEnabled: true,
                adminPassword: ADMIN,
                backupEndpoint: "http://minio.minio.svc:9000/",
                backupBucket: "pg-backups",
                backupAccessKeyId: ACCESS_KEY_ID,
                backupSecretAccessKey: SECRET_ACCESS_KEY,
            },
            ["hanzo-sql:adminPassword", "hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"],
        );
        const components = plan.plan.resources.filter((r) => !r.custom && r.type.startsWith("hanzo-sql:index:"));
        assert.deepStrictEqual(components.map((r) => r.type.split(":")[2]).sort(), [
            "HanzoSql",
            "Pgbouncer",
            "PostgresBackups",
            "PostgresInstance",
            "PostgresMonitoring",
            "ServiceDatabase",
            "ServiceDatabase",
        ]);
        const text = JSON.stringify(plan.plan);
        for (const secret of [ADMIN, ACCESS_KEY_ID, SECRET_ACCESS_KEY]) {
            assert.ok(!text.includes(secret), "no config secret in plain text in any registered input or output");
        }
        const of = (type: string) => components.find((r) => r.type === `hanzo-sql:index:${type}`)!;
        const inputs = (type: string) => of(type).inputs as any;
        // Secret fields at any depth are secrets in state ([secret] here, as in a diff), and their values are there.
        assert.deepStrictEqual([inputs("HanzoSql").adminPassword, inputs("HanzoSql").spec.admin.password], ["[secret]", "[secret]"]);
        assert.strictEqual((revealed(plan, of("HanzoSql")) as any).spec.admin.password, ADMIN);
        assert.strictEqual(inputs("PostgresInstance").adminPassword, "[secret]");
        assert.deepStrictEqual(
            [inputs("PostgresBackups").backup.store.accessKeyId, inputs("PostgresBackups").backup.store.secretAccessKey],
            ["[secret]", "[secret]"],
        );
        assert.deepStrictEqual((revealed(plan, of("PostgresBackups")) as any).backup.store.secretAccessKey, SECRET_ACCESS_KEY);
        assert.deepStrictEqual(inputs("Pgbouncer").users, [{ database: "iam", role: "iam_user", verifier: "[secret]" }]);
        assert.strictEqual(inputs("PostgresMonitoring").password, "[secret]");
        // Plain args as they are; the Database resources by name (a reference would hold the component until created).
        assert.deepStrictEqual(inputs("PostgresBackups").databases, ["cloud", "iam"]);
        assert.deepStrictEqual(
            [inputs("PostgresInstance").namespaceName, inputs("PostgresInstance").instance.storageSize],
            ["hanzo", "50Gi"],
        );
        const iam = components.find((r) => r.name === "hanzo-sql-iam")!.inputs as any;
        assert.deepStrictEqual(Object.keys(iam).sort(), [
            "adopt",
            "extensionVersions",
            "host",
            "kms",
            "pooler",
            "port",
            "protectData",
            "service",
        ]);
        assert.deepStrictEqual([iam.service.name, iam.pooler], ["iam", { host: "pgbouncer.hanzo.svc", port: 6432 }]);
    });

    /** Runs `declare` under the mocks and says what it threw and which resources were declared under `name`. */
    async function declaring(name: string, declare: () => void): Promise<{ error: unknown; children: string[] }> {
        let error: unknown;
        const result = await runPlan(stackConfig("hanzo-k8s"), () => {
            try {
                declare();
            } catch (e) {
                error = e;
            }
            return {};
        });
        const component = result.plan.resources.find((r) => r.name === name);
        assert.ok(component, `the component ${name} registered itself`);
        return { error, children: result.plan.resources.filter((r) => r.parent === component.urn).map((r) => r.name) };
    }

    // A feature that is off cannot reach its component: the spec's types are tagged unions (stacks/spec.ts).
    const spec = () => specOf(stackConfig("hanzo-k8s"));
    const base = () => {
        const s = spec();
        return {
            namespace: "hanzo",
            namespaceName: "hanzo",
            service: s.services[0],
            instance: s.instance,
            monitoring: on(s.monitoring),
            backup: on(s.backup),
            serverSelector: { app: "postgres" },
        };
    };
    const cases: [string, string, () => void][] = [
        [
            "PostgresInstance adopting without the superuser's password",
            "PostgresInstance bad: adopting a running server needs its superuser's password (adminPassword); a generated one would lock the program out",
            () => {
                const b = base();
                new PostgresInstance("bad", { ...b, clientNamespaces: [], protectData: false, adopt: true });
            },
        ],
        [
            "Pgbouncer without a pooled service",
            "Pgbouncer bad: no pooled service; a pooler without users refuses every client (mark a service pooled: true)",
            () => {
                const b = base();
                new Pgbouncer("bad", {
                    ...b,
                    pooling: { enabled: true, maxClientConn: 200, defaultPoolSize: 20, image: "edoburu/pgbouncer:v1.25.2-p0", replicas: 2 },
                    users: [],
                    serverHost: "postgres",
                    serverPort: 5432,
                    clientNamespaces: [],
                });
            },
        ],
        [
            "PostgresBackups of a service whose Database is not given",
            "PostgresBackups bad: no Database resource given for iam: every dumped service's database must be in databases",
            () => {
                const b = base();
                new PostgresBackups("bad", {
                    ...b,
                    services: [b.service],
                    databases: {},
                    host: "postgres",
                    port: 5432,
                    protectData: false,
                });
            },
        ],
        [
            "ServiceDatabase keeping its password behind the pooler",
            "ServiceDatabase bad: service iam keeps its password (keepPassword) but is pooled; PgBouncer's userlist needs the password the program manages",
            () => {
                const b = base();
                const args = { host: "postgres", port: 5432, protectData: false, extensionVersions: {}, adopt: false };
                new ServiceDatabase("bad", {
                    ...args,
                    service: { ...b.service, keepPassword: true },
                    pooler: { host: "pgbouncer", port: 6432 },
                });
            },
        ],
        [
            "ServiceDatabase syncing from a KMS the stack does not have",
            "ServiceDatabase bad: service iam syncs its credentials from the KMS (kmsSync) but no enabled kms was given",
            () => {
                const b = base();
                const args = { host: "postgres", port: 5432, protectData: false, extensionVersions: {}, adopt: false };
                new ServiceDatabase("bad", { ...args, service: { ...b.service, kmsSync: true }, kms: { ...spec().kms, enabled: false } });
            },
        ],
    ];
    for (const [what, message, declare] of cases) {
        it(`${what}: a ResourceError naming it, and no child declared`, async () => {
            assert.strictEqual(base().service.name, "iam");
            const { error, children } = await declaring("bad", declare);
            assert.ok(error instanceof pulumi.ResourceError, `a ResourceError, not ${String(error)}`);
            assert.strictEqual((error as Error).message, message);
            assert.deepStrictEqual(children, []);
        });
    }

    it("each args interface documents every arg in one line", () => {
        const dir = path.join(PROJECT_DIR, "components");
        let checked = 0;
        for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
            const text = fs.readFileSync(path.join(dir, file), "utf8");
            for (const m of text.matchAll(/export interface (\w+Args) \{\n([\s\S]*?)\n\}/g)) {
                const lines = m[2].split("\n");
                lines.forEach((line, i) => {
                    if (/^ {4}readonly \w+\??:/.test(line)) {
                        checked++;
                        assert.match(
                            lines[i - 1] ?? "",
                            /^ {4}\/\*\* .+ \*\/$/,
                            `${file} ${m[1]}: ${line.trim()} has no one-line doc comment`,
                        );
                    }
                });
            }
        }
        assert.ok(checked >= 40, `${checked} args checked`);
    });
});

describe("one helper for labels and the hardened security contexts", () => {
    it("no workload writes them itself: the literals live in render/labels.ts and render/securityContext.ts only", () => {
        const files = [
            "program.ts",
            ...["components", "render", "render/pods"].flatMap((d) =>
                fs
                    .readdirSync(path.join(PROJECT_DIR, d))
                    .filter((f) => f.endsWith(".ts"))
                    .map((f) => `${d}/${f}`),
            ),
        ];
        for (const literal of [
            "readOnlyRootFilesystem",
            "runAsNonRoot",
            "allowPrivilegeEscalation",
            "seccompProfile",
            "app.kubernetes.io/",
        ]) {
            const writers = files.filter((f) => fs.readFileSync(path.join(PROJECT_DIR, f), "utf8").includes(literal));
            assert.deepStrictEqual(writers, [literal.startsWith("app.") ? "render/labels.ts" : "render/securityContext.ts"], literal);
        }
    });

    for (const stack of ["hanzo-k8s", "lux-k8s"]) {
        it(`every container of ${stack}'s workloads is hardenedContainer(), every pod hardenedPod() of its user`, async () => {
            const all = workloads(await planOf(stack));
            assert.ok(all.length >= 3, `${all.length} workloads`);
            for (const w of all) {
                const pod = w.spec.securityContext as Record<string, unknown>;
                const fsGroup =
                    pod.fsGroup === undefined ? "none" : pod.fsGroupChangePolicy === "OnRootMismatch" ? "onRootMismatch" : "always";
                assert.deepStrictEqual(pod, hardenedPod(pod.runAsUser as number, fsGroup), `${w.kind} ${w.name}`);
                for (const c of [...(w.spec.initContainers ?? []), ...w.spec.containers]) {
                    assert.deepStrictEqual(c.securityContext, hardenedContainer(), `${w.kind} ${w.name} ${c.name}`);
                }
                assert.strictEqual(w.labels["app.kubernetes.io/part-of"], "hanzo-sql", `${w.kind} ${w.name}`);
            }
        });
    }
});
