import * as assert from "assert";
import { configChecksum } from "../../components/postgresInstance";
import { renderBackupScripts } from "../../render/backup";
import { mockPassword } from "../../tools/plan/runner";
import { TYPES, ofType, planOf, planWith, resource, revealed } from "../support/plan";

const T = {
    bucket: "digitalocean:index/spacesBucket:SpacesBucket",
    key: "digitalocean:index/spacesKey:SpacesKey",
    cronJob: "kubernetes:batch/v1:CronJob",
};
const SERVICES = ["iam", "cloud", "console", "hanzo_cloud", "kms", "platform"];

describe("backups as declared (hanzo-k8s)", () => {
    it("creates a private Spaces bucket, protected, whose only lifecycle rule aborts incomplete uploads", async () => {
        const plan = await planOf("hanzo-k8s");
        const bucket = resource(plan, T.bucket, "hanzo-sql-backups-bucket");
        assert.deepStrictEqual(bucket.inputs, {
            name: "hanzo-k8s-postgres-backups",
            region: "nyc3",
            acl: "private",
            forceDestroy: false,
            lifecycleRules: [{ enabled: true, abortIncompleteMultipartUploadDays: 1 }],
        });
        assert.deepStrictEqual([bucket.options.protect, bucket.options.retainOnDelete], [true, true]);
        assert.deepStrictEqual(resource(plan, T.key, "hanzo-sql-backups-key").inputs, {
            name: "hanzo-k8s-postgres-backups-writer",
            grants: [{ bucket: "hanzo-k8s-postgres-backups", permission: "readwrite" }],
        });
    });

    it("makes a least-privilege backup role with CONNECT on every service database", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual(resource(plan, TYPES.role, "hanzo-sql-backups-role").inputs, {
            name: "hanzo_backup", login: true, password: "[secret]", superuser: false, createDatabase: false, createRole: false,
            replication: false, bypassRowLevelSecurity: false, inherit: true, roles: ["pg_read_all_data"],
        });
        const grants = ofType(plan, TYPES.grant).filter((g) => g.name.startsWith("hanzo-sql-backups-connect-"));
        assert.deepStrictEqual(grants.map((g) => g.inputs), SERVICES.map((db) => ({ database: db, role: "hanzo_backup", objectType: "database", privileges: ["CONNECT"] })));
    });

    it("keeps the backup role's and the bucket key's credentials in one Secret", async () => {
        const plan = await planOf("hanzo-k8s");
        const secret = resource(plan, TYPES.secret, "hanzo-sql-backups-credentials");
        assert.deepStrictEqual((secret.inputs.metadata as any).name, "postgres-backup-credentials");
        const data = revealed(plan, secret).stringData as Record<string, string>;
        assert.deepStrictEqual(Object.keys(data).sort(), ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD", "PGUSER"]);
        assert.strictEqual(data.PGUSER, "hanzo_backup");
        assert.strictEqual(data.PGPASSWORD, mockPassword("hanzo-sql-backups-role-password", false));
        assert.strictEqual(data.AWS_SECRET_ACCESS_KEY, mockPassword("hanzo-sql-backups-key-secret", false));
    });

    it("carries the scripts rendered from the stack: every database and its retention", async () => {
        const plan = await planOf("hanzo-k8s");
        const data = (resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as any).data;
        const expected = renderBackupScripts({
            databases: SERVICES.map((s) => ({ name: s, role: `${s}_user`, retentionDays: s === "kms" ? 2555 : 30 })),
            defaultRetentionDays: 30,
        });
        assert.deepStrictEqual(data, expected);
        assert.match(data["dump.sh"], /^databases=\(iam cloud console hanzo_cloud kms platform\)$/m);
        assert.match(data["prune.sh"], /^declare -A retention=\(\[iam\]=30 \[cloud\]=30 \[console\]=30 \[hanzo_cloud\]=30 \[kms\]=2555 \[platform\]=30\)$/m);
        assert.match(data["dump.sh"], /^set -euo pipefail$/m);
    });

    it("runs a CronJob: every 6 hours, never overlapping, with a deadline, history limits, pinned images and no superuser", async () => {
        const plan = await planOf("hanzo-k8s");
        const cron = resource(plan, T.cronJob, "hanzo-sql-backups-cronjob").inputs as any;
        const scripts = (resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as any).data;
        const secretRef = (env: string) => ({ name: env, valueFrom: { secretKeyRef: { name: "postgres-backup-credentials", key: env } } });
        const hardened = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
        const mounts = [{ name: "backup", mountPath: "/backup" }, { name: "scripts", mountPath: "/scripts", readOnly: true }, { name: "tmp", mountPath: "/tmp" }];
        const labels = { "app.kubernetes.io/name": "postgres-backup", "app.kubernetes.io/part-of": "hanzo-sql" };
        assert.deepStrictEqual(cron, {
            apiVersion: "batch/v1",
            kind: "CronJob",
            metadata: { name: "postgres-backup", namespace: "hanzo", labels },
            spec: {
                schedule: "0 */6 * * *",
                concurrencyPolicy: "Forbid",
                startingDeadlineSeconds: 3600,
                successfulJobsHistoryLimit: 3,
                failedJobsHistoryLimit: 3,
                jobTemplate: {
                    spec: {
                        backoffLimit: 1,
                        activeDeadlineSeconds: 14400,
                        template: {
                            metadata: { labels, annotations: { "hanzo.ai/scripts-checksum": configChecksum(scripts) } },
                            spec: {
                                restartPolicy: "Never",
                                securityContext: { runAsUser: 999, runAsGroup: 999, runAsNonRoot: true, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } },
                                initContainers: [{
                                    name: "dump",
                                    image: "postgres:16.4-bookworm",
                                    command: ["bash", "/scripts/dump.sh"],
                                    env: [
                                        { name: "PGHOST", value: "postgres.hanzo.svc" }, { name: "PGPORT", value: "5432" },
                                        secretRef("PGUSER"), secretRef("PGPASSWORD"), { name: "BACKUP_DIR", value: "/backup" },
                                    ],
                                    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
                                    securityContext: hardened,
                                    volumeMounts: mounts,
                                }],
                                containers: [{
                                    name: "upload",
                                    image: "amazon/aws-cli:2.17.0",
                                    command: ["bash", "-c", "bash /scripts/upload.sh && bash /scripts/prune.sh"],
                                    env: [
                                        { name: "S3_ENDPOINT", value: "https://nyc3.digitaloceanspaces.com" },
                                        { name: "S3_BUCKET", value: "hanzo-k8s-postgres-backups" },
                                        { name: "S3_PREFIX", value: "postgres" },
                                        { name: "AWS_DEFAULT_REGION", value: "us-east-1" },
                                        secretRef("AWS_ACCESS_KEY_ID"), secretRef("AWS_SECRET_ACCESS_KEY"),
                                        { name: "BACKUP_DIR", value: "/backup" }, { name: "HOME", value: "/tmp" },
                                    ],
                                    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
                                    securityContext: hardened,
                                    volumeMounts: mounts,
                                }],
                                volumes: [
                                    { name: "backup", emptyDir: {} },
                                    { name: "scripts", configMap: { name: "postgres-backup-scripts", defaultMode: 0o555 } },
                                    { name: "tmp", emptyDir: {} },
                                ],
                            },
                        },
                    },
                },
            },
        });
        assert.strictEqual(plan.outputs.backups, "s3://hanzo-k8s-postgres-backups/postgres");
    });
});

describe("backup configuration", () => {
    const base = { environment: "prod", clusterName: "c", services: ["iam", { name: "sessions", backupRetentionDays: 0 }, { name: "audit", backupRetentionDays: 2555 }] };

    it("uses your own S3 endpoint (MinIO) with credentials from config secrets, and creates no bucket", async () => {
        const plan = await planWith("minio", { ...base, backupEndpoint: "http://minio.minio.svc:9000/", backupBucket: "pg-backups", backupAccessKeyId: "minio-id", backupSecretAccessKey: "minio-secret" },
            ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"]);
        assert.deepStrictEqual([ofType(plan, T.bucket).length, ofType(plan, T.key).length], [0, 0]);
        const env = (resource(plan, T.cronJob, "hanzo-sql-backups-cronjob").inputs as any).spec.jobTemplate.spec.template.spec.containers[0].env;
        assert.deepStrictEqual(env.slice(0, 2), [{ name: "S3_ENDPOINT", value: "http://minio.minio.svc:9000" }, { name: "S3_BUCKET", value: "pg-backups" }]);
        const data = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-backups-credentials")).stringData as Record<string, string>;
        assert.deepStrictEqual([data.AWS_ACCESS_KEY_ID, data.AWS_SECRET_ACCESS_KEY], ["minio-id", "minio-secret"]);
    });

    it("keeps each service's retention class, and leaves out services with none", async () => {
        const plan = await planWith("retention", base);
        const scripts = (resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as any).data;
        assert.match(scripts["dump.sh"], /^databases=\(iam audit\)$/m);
        assert.match(scripts["prune.sh"], /^declare -A retention=\(\[iam\]=30 \[audit\]=2555\)$/m);
        assert.deepStrictEqual(ofType(plan, TYPES.grant).filter((g) => g.inputs.role === "hanzo_backup").map((g) => g.inputs.database), ["iam", "audit"]);
    });

    it("declares nothing for backups when disabled", async () => {
        const plan = await planOf("test");
        assert.deepStrictEqual([ofType(plan, T.cronJob).length, ofType(plan, T.bucket).length, ofType(plan, TYPES.role).filter((r) => r.inputs.name === "hanzo_backup").length], [0, 0, 0]);
        assert.strictEqual(plan.outputs.backups, undefined);
    });
});
