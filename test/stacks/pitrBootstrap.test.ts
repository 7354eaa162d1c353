import * as assert from "assert";
import { VALID, problems } from "../support/config";
import { HANZO_SQL_IMAGE } from "../../render/pitr";
import { bootstrapTarget } from "../../stacks/pitrBootstrap";

const NOT_WIRED = "is not yet wired into the server pod (issue 23, docs/pitr.md: Into a new stack); remove pitrBootstrapFrom";
const PITR = { pitrEnabled: true, backupEnabled: true, image: HANZO_SQL_IMAGE };

describe("pitrBootstrapFrom: a new stack from another stack's archive", function () {
    this.timeout(60_000);
    it("names the field and the fix for bad values, before any resource", () => {
        assert.deepStrictEqual(
            problems({
                ...VALID,
                ...PITR,
                pitrBootstrapFrom: { bucket: "Bad_Bucket", path: "pitr", time: "yesterday", color: "red" },
            }),
            [
                'hanzo-sql:pitrBootstrapFrom.bucket = "Bad_Bucket": must be the source stack\'s bucket name, e.g. hanzo-k8s-postgres-backups',
                'hanzo-sql:pitrBootstrapFrom.path = "pitr": must be the source stack\'s repository path in its bucket, e.g. /pitr',
                'hanzo-sql:pitrBootstrapFrom.time = "yesterday": must be a UTC time such as "2026-12-05 02:30:00+00" (the restore stops before it)',
                // An unknown field's value is not shown (it could be anything, a secret too).
                'hanzo-sql:pitrBootstrapFrom.color = "[not shown]": unknown field; pitrBootstrapFrom takes bucket, path and at most one of time, lsn, name',
            ],
        );
        assert.deepStrictEqual(problems({ ...VALID, ...PITR, pitrBootstrapFrom: "hanzo-k8s" }), [
            // Pulumi config gives a structured key as YAML (stacks/load.ts).
            'hanzo-sql:pitrBootstrapFrom = "hanzo-k8s": must be a YAML structure',
        ]);
    });

    it("one target at most; needs pitrEnabled; never an adopted stack; refused until the pod is wired", () => {
        const from = { bucket: "hanzo-k8s-postgres-backups", path: "/pitr", lsn: "0/5000060", name: "before-migration" };
        const shown = JSON.stringify(from);
        assert.deepStrictEqual(problems({ ...VALID, pitrBootstrapFrom: from }), [
            `hanzo-sql:pitrBootstrapFrom = ${shown}: gives lsn and name: a restore stops at one target; keep one of them (none: the end of the archive)`,
        ]);
        const one = { bucket: "hanzo-k8s-postgres-backups", path: "/pitr", name: "before-migration" };
        const oneShown = JSON.stringify(one);
        assert.deepStrictEqual(problems({ ...VALID, pitrBootstrapFrom: one }), [
            `hanzo-sql:pitrBootstrapFrom = ${oneShown}: needs pitrEnabled: true (the restore step runs pgBackRest in the server image with the bucket's keys, as archiving does); set it, or remove pitrBootstrapFrom`,
            `hanzo-sql:pitrBootstrapFrom = ${oneShown}: ${NOT_WIRED}`,
        ]);
        assert.ok(
            problems({ ...VALID, ...PITR, adopt: true, adminPassword: "x".repeat(32), pitrBootstrapFrom: one }).includes(
                `hanzo-sql:pitrBootstrapFrom = ${oneShown}: cannot bootstrap an adopted stack: its volume holds the seed's cluster, which the restore step never touches; remove pitrBootstrapFrom or adopt`,
            ),
        );
    });

    it("renders its target for the init container: time, lsn, name, or the end of the archive", () => {
        const b = { bucket: "b-b-b", path: "/pitr" };
        assert.deepStrictEqual(bootstrapTarget({ ...b, time: "2026-12-05 02:30:00+00" }), {
            type: "time",
            target: "2026-12-05 02:30:00+00",
        });
        assert.deepStrictEqual(bootstrapTarget({ ...b, lsn: "0/5000060" }), { type: "lsn", target: "0/5000060" });
        assert.deepStrictEqual(bootstrapTarget({ ...b, name: "x" }), { type: "name", target: "x" });
        assert.deepStrictEqual(bootstrapTarget(b), { type: "latest" });
    });
});
