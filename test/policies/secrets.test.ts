import * as assert from "assert";
import { noPlaintextSecrets } from "../../policies/secrets";
import { TYPE, add, find, inputs, plain, planCopy, secret, violations } from "../support/policy";

const P = "no-plaintext-secrets";

describe("no-plaintext-secrets", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(noPlaintextSecrets, await planCopy(stack)), []);
        });
    }

    it("finds a Secret's password repeated in a ConfigMap by its value, as the engine sends it (in plain text)", async () => {
        const plan = await planCopy();
        // The password as the engine hands it to the pack: iam's connection Secret, a secret in plain text.
        const password = (plain(inputs(find(plan, TYPE.secret, "iam-database")).stringData) as Record<string, string>).DB_PASSWORD;
        assert.strictEqual(typeof password, "string");
        add(plan, TYPE.configMap, "app-config", {
            metadata: { name: "app", namespace: "hanzo" },
            data: {
                copied: password,
                jdbc: `jdbc:postgresql://postgres.hanzo.svc/iam?user=iam_user&password=${password}`,
                host: "postgres.hanzo.svc",
            },
        });
        const cm = `${P}: app-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/app"`;
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${cm} key copied is the generated password "hanzo-sql-iam-password" in plain text; keep it in a Secret.`,
            `${cm} key jdbc contains the generated password "hanzo-sql-iam-password" in plain text; keep it in a Secret.`,
        ]);
    });

    it("finds a hand-declared Secret's and Role's passwords wherever they are repeated", async () => {
        const plan = await planCopy();
        add(plan, TYPE.secret, "billing-secret", {
            metadata: { name: "billing", namespace: "hanzo" },
            stringData: secret({ API_KEY: "correct-horse-battery", DATABASE_URL: "postgresql://billing_user:staple%2Fhorse@h/billing" }),
        });
        add(plan, TYPE.role, "billing-role", { name: "billing_user", login: true, password: secret("tr0ub4dor&three") });
        add(plan, TYPE.deployment, "billing", {
            metadata: { name: "billing", namespace: "hanzo", annotations: { note: "key correct-horse-battery" } },
            spec: {
                template: {
                    spec: {
                        containers: [
                            {
                                name: "api",
                                image: "billing:1.0",
                                env: [{ name: "PASS", value: "staple/horse" }],
                                args: ["--db-pass", "tr0ub4dor&three"],
                            },
                        ],
                    },
                },
            },
        });
        const d = `${P}: billing (kubernetes:apps/v1:Deployment): Deployment "hanzo/billing"`;
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${d} annotation note contains Secret "hanzo/billing" key API_KEY in plain text; keep it in a Secret.`,
            `${d} container "api" env PASS is the password in Secret "hanzo/billing" key DATABASE_URL in plain text; use valueFrom.secretKeyRef.`,
            `${d} container "api" argument 1 is the password of role "billing_user" in plain text; read it from a Secret-backed env var.`,
        ]);
    });

    it("rejects connection strings, password= settings and credential-named keys by their shape", async () => {
        const plan = await planCopy();
        add(plan, TYPE.configMap, "app-config", {
            metadata: { name: "app", namespace: "hanzo", annotations: { dsn: "host=h user=u password=hunter2" } },
            data: { url: "postgresql://iam_user:hunter2@postgres.hanzo.svc:5432/iam", API_TOKEN: "abc", host: "postgres.hanzo.svc" },
        });
        const cm = `${P}: app-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/app"`;
        // Keys in the engine's order (a property map's keys are sorted on the wire).
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${cm} annotation dsn holds a password= setting in plain text; keep it in a Secret.`,
            `${cm} key API_TOKEN is a credential by its name in plain text; keep it in a Secret.`,
            `${cm} key url holds a connection string with a password in plain text; keep it in a Secret.`,
        ]);
    });

    it("rejects passwords in env values, commands and arguments, and accepts secretKeyRef", async () => {
        const plan = await planCopy();
        const c = inputs(find(plan, TYPE.statefulSet, "postgres")).spec.template.spec.containers[0];
        c.env.push({ name: "PGPASSWORD", value: "hunter2" });
        c.args.push("--url=postgres://u:hunter2@h/db");
        const sts = `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "postgres"`;
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${sts} env PGPASSWORD is a credential by its name in plain text; use valueFrom.secretKeyRef.`,
            `${sts} argument ${c.args.length - 1} holds a connection string with a password in plain text; read it from a Secret-backed env var.`,
        ]);
    });

    it("on a first preview, skips the passwords it cannot know yet and checks the rest", async () => {
        const plan = await planCopy("hanzo-k8s", true);
        assert.strictEqual(inputs(find(plan, TYPE.secret, "iam-database")).stringData, "04da6b54-80e4-46f7-96ec-b56ff0331ba9");
        add(plan, TYPE.configMap, "app-config", {
            metadata: { name: "app", namespace: "hanzo" },
            data: { url: "postgresql://iam_user:hunter2@postgres.hanzo.svc:5432/iam", later: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" },
        });
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${P}: app-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/app" key url holds a connection string with a password in plain text; keep it in a Secret.`,
        ]);
    });
});
