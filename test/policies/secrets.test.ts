import * as assert from "assert";
import { noPlaintextSecrets } from "../../policies/secrets";
import { TYPE, add, find, inputs, planCopy, violations } from "../support/policy";

const P = "no-plaintext-secrets";

describe("no-plaintext-secrets", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(noPlaintextSecrets, await planCopy(stack)), []);
        });
    }

    it("rejects a secret value, a connection string or a credential in a ConfigMap", async () => {
        const plan = await planCopy();
        add(plan, TYPE.configMap, "app-config", {
            metadata: { name: "app", namespace: "hanzo", annotations: { dsn: "host=h user=u password=hunter2" } },
            data: { url: "postgresql://iam_user:hunter2@postgres.hanzo.svc:5432/iam", leaked: "[secret]", API_TOKEN: "abc", host: "postgres.hanzo.svc" },
        });
        const cm = `${P}: app-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/app"`;
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${cm} annotation dsn holds a password= setting in plain text; keep it in a Secret.`,
            `${cm} key url holds a connection string with a password in plain text; keep it in a Secret.`,
            `${cm} key leaked holds a secret value in plain text; keep it in a Secret.`,
            `${cm} key API_TOKEN is a credential by its name in plain text; keep it in a Secret.`,
        ]);
    });

    it("rejects passwords in env values and arguments, and accepts secretKeyRef", async () => {
        const plan = await planCopy();
        const c = inputs(find(plan, TYPE.statefulSet, "postgres")).spec.template.spec.containers[0];
        c.env.push({ name: "PGPASSWORD", value: "hunter2" });
        c.args.push("--url=postgres://u:hunter2@h/db");
        const sts = `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "postgres"`;
        assert.deepStrictEqual(await violations(noPlaintextSecrets, plan), [
            `${sts} env PGPASSWORD is a credential by its name in plain text; use valueFrom.secretKeyRef.`,
            `${sts} argument 5 holds a connection string with a password in plain text; read it from a Secret-backed env var.`,
        ]);
    });
});
