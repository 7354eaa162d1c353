import * as assert from "assert";
import { VALID, load, problems } from "../support/config";
import { HANZO_SQL_IMAGE } from "../../render/pitr";
import { bootstrapTarget } from "../../stacks/pitrBootstrap";

const PITR = { pitrEnabled: true, backupEnabled: true, image: HANZO_SQL_IMAGE };
/** The prod iam stack's source: its service's role and database, the backup and monitoring roles. */
const RESTORED = { roles: ["hanzo_backup", "hanzo_monitor", "iam_user"], databases: ["iam"] };

describe("pitrBootstrapFrom: a new stack from another stack's archive", function () {
    this.timeout(60_000);
    it("names the field and the fix for bad values, before any resource", () => {
        assert.deepStrictEqual(
            problems({
                ...VALID,
                ...PITR,
                pitrBootstrapFrom: { bucket: "Bad_Bucket", path: "pitr", time: "yesterday", color: "red", restored: RESTORED },
            }),
            [
                'hanzo-sql:pitrBootstrapFrom.bucket = "Bad_Bucket": must be the source stack\'s bucket name, e.g. hanzo-k8s-postgres-backups',
                'hanzo-sql:pitrBootstrapFrom.path = "pitr": must be the source stack\'s repository path in its bucket, e.g. /pitr',
                'hanzo-sql:pitrBootstrapFrom.time = "yesterday": must be a UTC time such as "2026-12-05 02:30:00+00" (the restore stops before it)',
                // An unknown field's value is not shown (it could be anything, a secret too).
                'hanzo-sql:pitrBootstrapFrom.color = "[not shown]": unknown field; pitrBootstrapFrom takes bucket, path, restored and at most one of time, lsn, name',
            ],
        );
        assert.deepStrictEqual(problems({ ...VALID, ...PITR, pitrBootstrapFrom: "hanzo-k8s" }), [
            // Pulumi config gives a structured key as YAML (stacks/load.ts).
            'hanzo-sql:pitrBootstrapFrom = "hanzo-k8s": must be a YAML structure',
        ]);
    });

    it("one target at most; needs pitrEnabled; never an adopted stack, never with a configured adminPassword", () => {
        const from = {
            bucket: "hanzo-k8s-postgres-backups",
            path: "/pitr",
            lsn: "0/5000060",
            name: "before-migration",
            restored: RESTORED,
        };
        const shown = JSON.stringify(from);
        assert.deepStrictEqual(problems({ ...VALID, pitrBootstrapFrom: from }), [
            `hanzo-sql:pitrBootstrapFrom = ${shown}: gives lsn and name: a restore stops at one target; keep one of them (none: the end of the archive)`,
        ]);
        const one = { bucket: "hanzo-k8s-postgres-backups", path: "/pitr", name: "before-migration", restored: RESTORED };
        const oneShown = JSON.stringify(one);
        assert.deepStrictEqual(problems({ ...VALID, pitrBootstrapFrom: one }), [
            `hanzo-sql:pitrBootstrapFrom = ${oneShown}: needs pitrEnabled: true (the restore step runs pgBackRest in the server image with the bucket's keys, as archiving does); set it, or remove pitrBootstrapFrom`,
        ]);
        assert.deepStrictEqual(load({ ...VALID, ...PITR, pitrBootstrapFrom: one }).bootstrap, {
            source: "hanzo-k8s-postgres-backups/pitr",
            bucket: "hanzo-k8s-postgres-backups",
            path: "/pitr",
            target: { type: "name", target: "before-migration" },
            restored: RESTORED,
        });
        assert.ok(
            problems({ ...VALID, ...PITR, adopt: true, adminPassword: "x".repeat(32), pitrBootstrapFrom: one }).includes(
                `hanzo-sql:pitrBootstrapFrom = ${oneShown}: cannot bootstrap an adopted stack: its volume holds the seed's cluster, which the restore step never touches; remove pitrBootstrapFrom or adopt`,
            ),
        );
        assert.deepStrictEqual(
            problems({ ...VALID, ...PITR, adminPassword: "x".repeat(32), pitrBootstrapFrom: one }, { secret: ["hanzo-sql:adminPassword"] }),
            [
                `hanzo-sql:pitrBootstrapFrom = ${oneShown}: cannot be given with adminPassword: the first preview would read the restored roles from a server that is not there yet; leave adminPassword unset (the stack generates one and the restore step gives it to the restored cluster), or remove pitrBootstrapFrom before setting it`,
            ],
        );
    });

    it("restored: required; names only what the stack declares, and the backup role every source has", () => {
        const from = { bucket: "hanzo-k8s-postgres-backups", path: "/pitr" };
        assert.deepStrictEqual(problems({ ...VALID, ...PITR, pitrBootstrapFrom: from }), [
            "hanzo-sql:pitrBootstrapFrom.restored (not set): must list the roles (and databases) of the source that this stack declares too: { roles: [hanzo_backup, ...], databases: [...] }; they are imported on the first up instead of created",
        ]);
        // A service the source lacked (cloud) is simply not listed: created. The source's own roles this stack
        // does not declare (kms_user, the administrator) are refused in the list, and left in the cluster.
        const listed = { roles: ["iam_user", "kms_user", "hanzo", "Bad"], databases: ["iam", "kms"], color: 1 };
        assert.deepStrictEqual(
            problems({ ...VALID, ...PITR, services: ["iam", "cloud"], pitrBootstrapFrom: { ...from, restored: listed } }),
            [
                'hanzo-sql:pitrBootstrapFrom.restored.roles[3] = "Bad": must be a role name (lower-case letters, digits, _)',
                'hanzo-sql:pitrBootstrapFrom.restored.color = "[not shown]": unknown field; restored takes roles and databases',
            ],
        );
        const declared = "iam_user, cloud_user, hanzo_backup, hanzo_monitor";
        assert.deepStrictEqual(
            problems({
                ...VALID,
                ...PITR,
                services: ["iam", "cloud"],
                pitrBootstrapFrom: { ...from, restored: { roles: ["iam_user", "kms_user", "hanzo"], databases: ["iam", "kms"] } },
            }),
            [
                `hanzo-sql:pitrBootstrapFrom.restored.roles[1] = "kms_user": is not a role this stack declares (${declared}): the restored cluster keeps it as it was and the program never touches it; remove it from the list`,
                `hanzo-sql:pitrBootstrapFrom.restored.roles[2] = "hanzo": is the administrator: the restore step gives it this stack's password, and the program never creates it; remove it from the list`,
                'hanzo-sql:pitrBootstrapFrom.restored.databases[1] = "kms": is not a database of this stack\'s services (iam, cloud): the restored cluster keeps it as it was and the program never touches it; remove it from the list',
                'hanzo-sql:pitrBootstrapFrom.restored.roles = ["iam_user","kms_user","hanzo"]: lacks hanzo_backup: the source archived, so it had backups, and its backup role is in the restore (CREATE ROLE would fail on it); add hanzo_backup',
            ],
        );
    });

    it("renders its target for the init container: time, lsn, name, or the end of the archive", () => {
        const b = { bucket: "b-b-b", path: "/pitr", restored: RESTORED };
        assert.deepStrictEqual(bootstrapTarget({ ...b, time: "2026-12-05 02:30:00+00" }), {
            type: "time",
            target: "2026-12-05 02:30:00+00",
        });
        assert.deepStrictEqual(bootstrapTarget({ ...b, lsn: "0/5000060" }), { type: "lsn", target: "0/5000060" });
        assert.deepStrictEqual(bootstrapTarget({ ...b, name: "x" }), { type: "name", target: "x" });
        assert.deepStrictEqual(bootstrapTarget(b), { type: "latest" });
    });
});
