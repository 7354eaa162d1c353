import * as assert from "assert";
import { dataProtection } from "../../policies/protection";
import { TYPE, find, planCopy, remove, violations } from "../support/policy";

const P = "data-protection";

function unprotect(r: { options: { protect: boolean; retainOnDelete: boolean } }) {
    (r.options as { protect: boolean }).protect = false;
    (r.options as { retainOnDelete: boolean }).retainOnDelete = false;
}

describe("data-protection", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "staging", "dev", "test"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(dataProtection, await planCopy(stack)), []);
        });
    }

    it("rejects an unprotected Database or StatefulSet outside the test environment", async () => {
        const plan = await planCopy();
        unprotect(find(plan, TYPE.database, "iam"));
        unprotect(find(plan, TYPE.statefulSet, "postgres"));
        assert.deepStrictEqual(await violations(dataProtection, plan), [
            `${P}: hanzo-sql-iam-database (postgresql:index/database:Database): database "iam" is not protected; in a prod environment a destroy, rename or replacement would drop its data. Set protect: true.`,
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" is not protected; in a prod environment a destroy or replacement would take the server down with its data. Set protect: true.`,
        ]);
    });

    it("rejects an unprotected backup bucket, and a StatefulSet that would be replaced by a storage change", async () => {
        const plan = await planCopy();
        unprotect(find(plan, "digitalocean:index/spacesBucket:SpacesBucket", "hanzo-sql-backups-bucket"));
        const sts = find(plan, TYPE.statefulSet, "postgres");
        assert.deepStrictEqual(sts.options.ignoreChanges, ["spec.volumeClaimTemplates"]);
        delete (sts.options as { ignoreChanges?: string[] }).ignoreChanges;
        assert.deepStrictEqual(await violations(dataProtection, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" does not ignore changes to spec.volumeClaimTemplates: a storage size or class change would replace it, and its claim would keep the old size. Set ignoreChanges: ["spec.volumeClaimTemplates"] and grow the claim with a PersistentVolumeClaimPatch.`,
            `${P}: hanzo-sql-backups-bucket (digitalocean:index/spacesBucket:SpacesBucket): bucket "hanzo-k8s-postgres-backups" is not protected; in a prod environment a destroy or replacement would delete the backups. Set protect: true.`,
        ]);
    });

    it("requires protect: retainOnDelete alone is invisible to the analyzer (AnalyzerResourceOptions has no such field)", async () => {
        const plan = await planCopy();
        const db = find(plan, TYPE.database, "iam");
        (db.options as { protect: boolean }).protect = false;
        assert.strictEqual(db.options.retainOnDelete, true);
        assert.deepStrictEqual(await violations(dataProtection, plan), [
            `${P}: hanzo-sql-iam-database (postgresql:index/database:Database): database "iam" is not protected; in a prod environment a destroy, rename or replacement would drop its data. Set protect: true.`,
        ]);
    });

    it("treats a stack of unknown environment as production", async () => {
        const plan = await planCopy("test");
        remove(plan, (r) => r.type === "hanzo-sql:index:HanzoSql");
        assert.deepStrictEqual(await violations(dataProtection, plan), [
            ...["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"].map(
                (s) =>
                    `${P}: hanzo-sql-${s}-database (postgresql:index/database:Database): database "${s}_test" is not protected; in a non-test (environment unknown) environment a destroy, rename or replacement would drop its data. Set protect: true.`,
            ),
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo-test/postgres" is not protected; in a non-test (environment unknown) environment a destroy or replacement would take the server down with its data. Set protect: true.`,
        ]);
        assert.deepStrictEqual(await violations(dataProtection, plan, { [P]: { environment: "test" } }), []);
    });
});
