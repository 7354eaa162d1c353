import * as assert from "assert";
import { specOf, stackConfig } from "../../cli/plan/stackFile";
import { TYPES, ofType, planOf } from "../support/plan";

/**
 * STANDARD defect 12: in Pulumi, `destroy`, a rename (a new URN) or a replace-forcing change deletes the old
 * resource; for a Database or the StatefulSet's volume that is data loss. The mock runtime does not show
 * resource options, so these tests read them where the engine would: on the registration request.
 */
for (const stack of ["hanzo-k8s", "lux-k8s", "staging", "dev"]) {
    it(`${stack}: protects and retains every Database, the StatefulSet and the backup bucket, and nothing else`, async () => {
        const plan = await planOf(stack);
        // What must be guarded, from the stack's configuration (not from the plan under test).
        const spec = specOf(stackConfig(stack));
        const expected = [
            ...spec.services.map((s) => [TYPES.database, `hanzo-sql-${s.name}-database`]),
            [TYPES.statefulSet, "hanzo-sql-postgres-statefulset"],
            ...(spec.backup.enabled && spec.backup.store.kind === "spaces"
                ? [["digitalocean:index/spacesBucket:SpacesBucket", "hanzo-sql-backups-bucket"]]
                : []),
        ];
        const guarded = plan.plan.resources.filter((r) => r.options.protect || r.options.retainOnDelete);
        assert.deepStrictEqual(
            guarded.map((r) => [r.type, r.name, r.options.protect, r.options.retainOnDelete]).sort(),
            [...expected.map(([type, name]) => [type, name, true, true]), CLAIM_PATCH].sort(),
        );
    });
}

/** The claim's size patch: only retained (deleting it would hand the size field back, never shrink the disk). */
const CLAIM_PATCH = ["kubernetes:core/v1:PersistentVolumeClaimPatch", "hanzo-sql-postgres-data-claim", false, true];

it("test: protects nothing, so the disposable environment can be destroyed", async () => {
    const plan = await planOf("test");
    assert.deepStrictEqual(
        plan.plan.resources
            .filter((r) => r.options.protect || r.options.retainOnDelete)
            .map((r) => [r.type, r.name, r.options.protect, r.options.retainOnDelete]),
        [CLAIM_PATCH],
    );
});

it("keeps the data volume when the StatefulSet is deleted or scaled down", async () => {
    for (const stack of ["hanzo-k8s", "test"]) {
        const plan = await planOf(stack);
        const sts = ofType(plan, TYPES.statefulSet)[0].inputs as any;
        assert.deepStrictEqual(sts.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" }, stack);
    }
});

it("deletes a database's extensions and grants with it instead of one by one", async () => {
    const plan = await planOf("hanzo-k8s");
    for (const r of [...ofType(plan, TYPES.extension), ...ofType(plan, TYPES.grant)]) {
        if (r.inputs.database === "template1" || r.inputs.database === "postgres") {
            assert.strictEqual(r.options.deletedWith, undefined);
            continue;
        }
        const db = ofType(plan, TYPES.database).find((d) => d.inputs.name === r.inputs.database)!;
        assert.strictEqual(r.options.deletedWith, db.urn, r.name);
    }
});

it("names children after their service, so adding or removing a service renames nothing else", async () => {
    const plan = await planOf("hanzo-k8s");
    const names = ofType(plan, TYPES.database).map((d) => d.name);
    assert.deepStrictEqual(
        names,
        ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"].map((s) => `hanzo-sql-${s}-database`),
    );
});
