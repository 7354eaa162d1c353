import * as assert from "assert";
import { postgresNaming } from "../../policies/naming";
import { TYPE, add, find, inputs, planCopy, remove, violations } from "../support/policy";

const P = "postgres-naming";
const db = (name: string) => `${P}: hanzo-sql-${name}-database (postgresql:index/database:Database)`;

describe("postgres-naming", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(postgresNaming, await planCopy(stack)), []);
        });
    }

    it("rejects capitals, hyphens and names over 63 bytes", async () => {
        const plan = await planCopy();
        inputs(find(plan, TYPE.database, "iam")).name = "IAM";
        inputs(find(plan, TYPE.database, "cloud")).name = "cloud-v2";
        inputs(find(plan, TYPE.role, "console_user")).name = `${"c".repeat(60)}_user`;
        assert.deepStrictEqual(await violations(postgresNaming, plan), [
            `${db("iam")}: database "IAM" must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere).`,
            `${db("cloud")}: database "cloud-v2" must use underscores, not hyphens.`,
            `${P}: hanzo-sql-iam-role (postgresql:index/role:Role): role "iam_user" has no database "iam" in this stack; a service role is named after its database (<database>_user).`,
            `${P}: hanzo-sql-cloud-role (postgresql:index/role:Role): role "cloud_user" has no database "cloud" in this stack; a service role is named after its database (<database>_user).`,
            `${P}: hanzo-sql-console-role (postgresql:index/role:Role): role "${"c".repeat(60)}_user" is 65 bytes long; PostgreSQL silently truncates identifiers to 63 bytes.`,
        ]);
    });

    it("requires _test in the test environment and forbids it elsewhere", async () => {
        const test = await planCopy("test");
        inputs(find(test, TYPE.database, "iam_test")).name = "iam";
        inputs(find(test, TYPE.database, "iam")).owner = "iam_user";
        inputs(find(test, TYPE.role, "iam_test_user")).name = "iam_user";
        assert.deepStrictEqual(await violations(postgresNaming, test), [
            `${db("iam")}: database "iam" must end in "_test" in the test environment (ADR-60), so tests never reach another environment's data.`,
        ]);
        const prod = await planCopy();
        inputs(find(prod, TYPE.database, "kms")).name = "kms_test";
        inputs(find(prod, TYPE.database, "kms_test")).owner = "kms_test_user";
        inputs(find(prod, TYPE.role, "kms_user")).name = "kms_test_user";
        assert.deepStrictEqual(await violations(postgresNaming, prod), [
            `${db("kms")}: database "kms_test" ends in "_test" in a prod stack; only the test environment uses that suffix (ADR-60).`,
        ]);
    });

    it("rejects another environment's suffix unless the name is a configured legacy name", async () => {
        const plan = await planCopy();
        inputs(find(plan, TYPE.database, "cloud")).name = "cloud_staging";
        inputs(find(plan, TYPE.database, "cloud_staging")).owner = "cloud_staging_user";
        inputs(find(plan, TYPE.role, "cloud_user")).name = "cloud_staging_user";
        const line = `${db("cloud")}: database "cloud_staging" names the staging environment in a prod stack; use "<service>" or "<service>_prod".`;
        assert.deepStrictEqual(await violations(postgresNaming, plan), [line]);
        assert.deepStrictEqual(await violations(postgresNaming, plan, { [P]: { legacyDatabases: ["cloud_staging"] } }), []);
    });

    it("requires each database to be owned by <database>_user, and each role to have its database", async () => {
        const plan = await planCopy();
        inputs(find(plan, TYPE.database, "platform")).owner = "hanzo";
        add(plan, TYPE.role, "billing-role", { name: "billing_user", login: true });
        add(plan, TYPE.role, "reporting-role", { name: "reporting", login: true });
        assert.deepStrictEqual(await violations(postgresNaming, plan), [
            `${db("platform")}: database "platform" is owned by "hanzo"; its owner must be its service role "platform_user", so the service can run its own migrations.`,
            `${P}: billing-role (postgresql:index/role:Role): role "billing_user" has no database "billing" in this stack; a service role is named after its database (<database>_user).`,
            `${P}: reporting-role (postgresql:index/role:Role): role "reporting" must be named after its database: <database>_user.`,
        ]);
    });

    it("takes the environment from its configuration before the stack's component", async () => {
        const plan = await planCopy();
        assert.deepStrictEqual(
            await violations(postgresNaming, plan, { [P]: { environment: "test" } }),
            ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"].map(
                (s) =>
                    `${db(s)}: database "${s}" must end in "_test" in the test environment (ADR-60), so tests never reach another environment's data.`,
            ),
        );
    });

    it("without a known environment, rejects a stack that mixes test and non-test names", async () => {
        const plan = await planCopy();
        remove(plan, (r) => r.type === TYPE.hanzoSql);
        inputs(find(plan, TYPE.database, "kms")).name = "kms_test";
        inputs(find(plan, TYPE.database, "kms_test")).owner = "kms_test_user";
        inputs(find(plan, TYPE.role, "kms_user")).name = "kms_test_user";
        assert.deepStrictEqual(await violations(postgresNaming, plan), [
            `${P}: hanzo-k8s (pulumi:pulumi:Stack): databases mix test (kms_test) and non-test names; a stack is one environment (ADR-60).`,
        ]);
    });
});
