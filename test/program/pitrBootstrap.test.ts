import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type { PlanResult } from "../../cli/plan/runner";
import { PITR_OBJECTS } from "../../policies/standard/jobs";
import { HANZO_SQL_IMAGE } from "../../render/pitr";
import { scriptsDir } from "../../render/backup";
import { TYPES, ofType, planWith, revealed } from "../support/plan";

/** A new stack (iam and cloud) restored from lux-k8s's archive, whose source had iam but not cloud. */
const PITR = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam", "cloud"], image: HANZO_SQL_IMAGE, pitrEnabled: true };
const FROM = {
    // Another stack's repository (lux-k8s's bucket), so its file and the stack's own differ.
    bucket: "lux-k8s-postgres-backups",
    path: "/postgres-pitr",
    time: "2026-12-05 02:30:00+00",
    restored: { roles: ["hanzo_backup", "hanzo_monitor", "iam_user"], databases: ["iam"] },
};
const BOOTSTRAPPED = { ...PITR, pitrBootstrapFrom: FROM };

function object(p: PlanResult, type: string, name: string): any {
    const found = ofType(p, type).filter((r) => (r.inputs.metadata as { name?: string })?.name === name);
    assert.strictEqual(found.length, 1, `expected one ${type} ${name}, found ${found.length}`);
    return revealed(p, found[0]);
}

/** `name: import ID` of every PostgreSQL role and database of the plan. */
function imports(p: PlanResult): string[] {
    return p.plan.resources
        .filter((r) => r.type === TYPES.role || r.type === TYPES.database)
        .map((r) => `${r.inputs.name as string}: ${r.options.import ?? "created"}`)
        .sort();
}

describe("program: a stack bootstrapped from another stack's archive (pitrBootstrapFrom, components/bootstrap.ts)", function () {
    this.timeout(120_000);
    let plan: PlanResult;
    let plain: PlanResult;
    before(async () => {
        plan = await planWith("hanzo-k8s", BOOTSTRAPPED);
        plain = await planWith("hanzo-k8s", PITR);
    });

    it("ships the script, the source repository's pgbackrest.conf and the stack's own (the same endpoint; the source's bucket and path, and its own)", () => {
        const data = object(plan, TYPES.configMap, PITR_OBJECTS.bootstrap).data;
        assert.deepStrictEqual(Object.keys(data).sort(), ["pgbackrest-bootstrap.conf", "pgbackrest-own.conf", "pitr-bootstrap.sh"]);
        assert.strictEqual(data["pitr-bootstrap.sh"], fs.readFileSync(path.join(scriptsDir(), "pitr-bootstrap.sh"), "utf8"));
        const lines = (file: string) =>
            data[file]
                .split("\n")
                .filter((l: string) => /^(repo1-(s3-bucket|path|s3-endpoint)|pg1-path|spool-path)=/.test(l))
                .sort();
        assert.deepStrictEqual(lines("pgbackrest-bootstrap.conf"), [
            "pg1-path=/var/lib/postgresql/data/pgdata.bootstrap",
            "repo1-path=/postgres-pitr",
            "repo1-s3-bucket=lux-k8s-postgres-backups",
            "repo1-s3-endpoint=nyc3.digitaloceanspaces.com",
            "spool-path=/tmp/pitr-bootstrap-spool",
        ]);
        assert.deepStrictEqual(lines("pgbackrest-own.conf"), [
            "pg1-path=/var/lib/postgresql/data/pgdata.bootstrap",
            "repo1-path=/postgres-pitr",
            "repo1-s3-bucket=hanzo-k8s-postgres-backups",
            "repo1-s3-endpoint=nyc3.digitaloceanspaces.com",
            "spool-path=/tmp/pitr-bootstrap-spool",
        ]);
        // Everything else in the two files is the same (the stack's own options), and no key is written.
        const rest = (file: string) => data[file].replace(/^repo1-s3-bucket=.*$/m, "");
        assert.strictEqual(rest("pgbackrest-bootstrap.conf"), rest("pgbackrest-own.conf"));
        assert.ok(!/^repo1-s3-key/m.test(data["pgbackrest-bootstrap.conf"] + data["pgbackrest-own.conf"]), "no key in the files");
    });

    it("runs the restore step first in the server pod, with the archive's keys and the target; nothing else in the pod changes", () => {
        const pod = object(plan, TYPES.statefulSet, "postgres").spec.template.spec;
        const without = object(plain, TYPES.statefulSet, "postgres").spec.template.spec;
        assert.deepStrictEqual(
            pod.initContainers.map((c: any) => c.name),
            ["pitr-bootstrap", "apply-admin-password"],
        );
        const step = pod.initContainers[0];
        assert.strictEqual(step.image, HANZO_SQL_IMAGE);
        assert.deepStrictEqual(
            step.env.map((e: any) => [e.name, e.value ?? e.valueFrom.secretKeyRef]),
            [
                ["PGDATA", "/var/lib/postgresql/data/pgdata"],
                ["PG_CONFIG_FILE", "/etc/postgresql/postgresql.conf"],
                ["BOOTSTRAP_CONFIG", "/etc/pitr-bootstrap/pgbackrest-bootstrap.conf"],
                ["BOOTSTRAP_OWN_CONFIG", "/etc/pitr-bootstrap/pgbackrest-own.conf"],
                ["BOOTSTRAP_STANDBYS", "0"],
                ["BOOTSTRAP_SOURCE", "lux-k8s-postgres-backups/postgres-pitr"],
                ["BOOTSTRAP_TARGET_TYPE", "time"],
                ["BOOTSTRAP_TARGET", "2026-12-05 02:30:00+00"],
                ["BOOTSTRAP_SUPERUSER", "hanzo"],
                ["BOOTSTRAP_RUN", "/tmp/pitr-bootstrap"],
                ["PGBACKREST_REPO1_S3_KEY", { name: PITR_OBJECTS.credentials, key: "AWS_ACCESS_KEY_ID" }],
                ["PGBACKREST_REPO1_S3_KEY_SECRET", { name: PITR_OBJECTS.credentials, key: "AWS_SECRET_ACCESS_KEY" }],
            ],
        );
        assert.deepStrictEqual(pod.volumes, [
            ...without.volumes,
            { name: "pitr-bootstrap", configMap: { name: PITR_OBJECTS.bootstrap, defaultMode: 0o555 } },
        ]);
        assert.deepStrictEqual(pod.initContainers.slice(1), without.initContainers);
        assert.deepStrictEqual(pod.containers, without.containers);
    });

    it("imports what the restore brought (restored) and creates the rest: a service the source lacked", () => {
        assert.deepStrictEqual(imports(plan), [
            "cloud: created",
            "cloud_user: created",
            "hanzo_backup: hanzo_backup",
            "hanzo_monitor: hanzo_monitor",
            "iam: iam",
            "iam_user: iam_user",
        ]);
        assert.deepStrictEqual(
            imports(plain).filter((l) => !l.endsWith(": created")),
            [],
        );
        assert.deepStrictEqual(
            ofType(plain, TYPES.configMap).filter((r) => (r.inputs.metadata as { name: string }).name === PITR_OBJECTS.bootstrap),
            [],
        );
    });

    it("ships the endpoint's private CA beside the conf, which names it", async () => {
        const ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        const p = await planWith(
            "hanzo-k8s",
            {
                ...BOOTSTRAPPED,
                backupEndpoint: "https://minio.minio.svc:9000",
                backupAccessKeyId: "id",
                backupSecretAccessKey: "secret",
                pitrEndpointCa: ca,
            },
            ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"],
        );
        const data = object(p, TYPES.configMap, PITR_OBJECTS.bootstrap).data;
        assert.strictEqual(data["endpoint-ca.crt"], ca);
        assert.ok(
            (data["pgbackrest-bootstrap.conf"] as string).split("\n").includes("repo1-storage-ca-file=/etc/pitr-bootstrap/endpoint-ca.crt"),
        );
    });
});
