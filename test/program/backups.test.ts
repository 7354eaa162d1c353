import * as assert from "assert";
import { configChecksum } from "../../components/postgresInstance";
import * as fs from "fs";
import * as path from "path";
import { renderBackupMetricsQueries, renderBackupScripts } from "../../render/backup";
import { mockPassword } from "../../cli/plan/runner";
import { TYPES, ofType, planOf, planWith, resource, revealed } from "../support/plan";

const T = { bucket: TYPES.spacesBucket, key: TYPES.spacesKey, cronJob: TYPES.cronJob };
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

    it("makes a least-privilege backup role that reads every row (BYPASSRLS), with CONNECT on every service database and its own results schema", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual(resource(plan, TYPES.role, "hanzo-sql-backups-role").inputs, {
            name: "hanzo_backup",
            login: true,
            password: "[secret]",
            superuser: false,
            createDatabase: false,
            createRole: false,
            replication: false,
            bypassRowLevelSecurity: true,
            inherit: true,
            roles: ["pg_read_all_data"],
            // Its sessions resolve names in pg_catalog only, a setting no service can override (issue 21).
            searchPaths: ["pg_catalog", "pg_temp"],
        });
        const grants = ofType(plan, TYPES.grant).filter((g) => g.name.startsWith("hanzo-sql-backups-connect-"));
        assert.deepStrictEqual(
            grants.map((g) => g.inputs),
            ["postgres", ...SERVICES].map((db) => ({
                database: db,
                role: "hanzo_backup",
                objectType: "database",
                privileges: ["CONNECT"],
            })),
        );
        assert.deepStrictEqual(resource(plan, "postgresql:index/schema:Schema", "hanzo-sql-backups-status-schema").inputs, {
            name: "hanzo_backup",
            database: "postgres",
            owner: "hanzo_backup",
            ifNotExists: true,
        });
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

    it("carries the scripts, and the stack's databases, roles, retention, extensions and required tables in stack.sh", async () => {
        const plan = await planOf("hanzo-k8s");
        const configMap = resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts");
        const data = (configMap.inputs as any).data;
        const extensions = ["vector", "pg_trgm", "uuid-ossp", "pg_stat_statements"];
        const expected = renderBackupScripts({
            databases: SERVICES.map((s) => ({
                name: s,
                role: `${s}_user`,
                retentionDays: s === "kms" ? 2555 : 30,
                extensions,
                requiredTables: [],
            })),
            defaultRetentionDays: 30,
        });
        assert.deepStrictEqual(data, expected);
        assert.deepStrictEqual(Object.keys(data).sort(), [
            "drill.sh",
            "dump.sh",
            "fetch.sh",
            "lib.sh",
            "prune.sh",
            "report.sh",
            "restore.sh",
            "stack.sh",
            "upload.sh",
        ]);
        for (const f of ["lib.sh", "dump.sh", "upload.sh", "prune.sh", "report.sh", "fetch.sh", "restore.sh", "drill.sh"]) {
            assert.strictEqual(data[f], fs.readFileSync(path.join(__dirname, "../../../render/scripts", f), "utf8"), f);
        }
        assert.strictEqual(
            data["stack.sh"],
            [
                "# shellcheck shell=bash disable=SC2034",
                "# Rendered by hanzo-sql from the stack (render/backup.ts); the scripts source it.",
                "databases=(iam cloud console hanzo_cloud kms platform)",
                "declare -A role=([iam]=iam_user [cloud]=cloud_user [console]=console_user [hanzo_cloud]=hanzo_cloud_user [kms]=kms_user [platform]=platform_user)",
                "declare -A retention=([iam]=30 [cloud]=30 [console]=30 [hanzo_cloud]=30 [kms]=2555 [platform]=30)",
                `declare -A extensions=(${SERVICES.map((s) => `[${s}]="vector pg_trgm uuid-ossp pg_stat_statements"`).join(" ")})`,
                `declare -A required_tables=(${SERVICES.map((s) => `[${s}]=""`).join(" ")})`,
                "default_retention_days=30",
                "",
            ].join("\n"),
        );
        // The list names only databases that exist: the ConfigMap (and so every Job) waits for each Database.
        for (const db of SERVICES) {
            assert.ok(configMap.dependencies.includes(resource(plan, TYPES.database, `hanzo-sql-${db}-database`).urn), db);
        }
    });

    it("runs a CronJob: every 6 hours, never overlapping, dump → upload → report, with a deadline, pinned images and no superuser", async () => {
        const plan = await planOf("hanzo-k8s");
        const cron = resource(plan, T.cronJob, "hanzo-sql-backups-cronjob").inputs as any;
        const scripts = (resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as any).data;
        assert.deepStrictEqual(
            cron,
            cronJob(
                "postgres-backup",
                "0 */6 * * *",
                14400,
                configChecksum(scripts),
                [pgContainer("dump", ["bash", "/scripts/dump.sh"], "1Gi"), s3Container("upload", ["bash", "/scripts/upload.sh"])],
                pgContainer("report", ["bash", "/scripts/report.sh"], "256Mi"),
            ),
        );
        assert.strictEqual(plan.outputs.backups, "s3://hanzo-k8s-postgres-backups/postgres");
    });

    it("runs the restore drill daily in prod: fetch the latest complete backup, then restore and check it in a scratch server", async () => {
        const plan = await planOf("hanzo-k8s");
        const cron = resource(plan, T.cronJob, "hanzo-sql-backups-drill").inputs as any;
        const scripts = (resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as any).data;
        const drill = pgContainer("drill", ["bash", "/scripts/drill.sh", "/backup/latest"], "2Gi");
        assert.deepStrictEqual(
            cron,
            cronJob(
                "postgres-restore-drill",
                "30 3 * * *",
                21600,
                configChecksum(scripts),
                [s3Container("fetch", ["bash", "/scripts/fetch.sh", "latest", "/backup/latest"])],
                { ...drill, env: [...drill.env, { name: "SCRATCH_DIR", value: "/tmp/drill" }] },
            ),
        );
    });

    it("gives the exporter the backups' per-database results, and alerts that name the database", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual((resource(plan, TYPES.configMap, "hanzo-sql-postgres-exporter-queries").inputs as any).data, {
            "queries.yaml": renderBackupMetricsQueries(),
        });
        const rule = resource(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "hanzo-sql-backups-alerts").inputs as any;
        assert.deepStrictEqual(
            rule.spec.groups.map((g: any) => [g.name, g.rules.map((r: any) => r.alert)]),
            [
                ["hanzo-sql-backups", ["PostgresBackupStale", "PostgresBackupNeverSucceeded", "PostgresBackupJobMissing"]],
                [
                    "hanzo-sql-backup-databases",
                    [
                        "PostgresBackupDatabaseFailed",
                        "PostgresBackupDatabaseStale",
                        "PostgresRestoreDrillFailed",
                        "PostgresRestoreDrillStale",
                    ],
                ],
            ],
        );
    });
});

const secretRef = (env: string) => ({ name: env, valueFrom: { secretKeyRef: { name: "postgres-backup-credentials", key: env } } });
const hardened = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
const mounts = [
    { name: "backup", mountPath: "/backup" },
    { name: "scripts", mountPath: "/scripts", readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
];
const pgContainer = (name: string, command: string[], memory: string) => ({
    name,
    image: "postgres:16.4-bookworm",
    command,
    env: [
        { name: "PGHOST", value: "postgres.hanzo.svc" },
        { name: "PGPORT", value: "5432" },
        secretRef("PGUSER"),
        secretRef("PGPASSWORD"),
        { name: "BACKUP_DIR", value: "/backup" },
    ] as object[],
    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory } },
    securityContext: hardened,
    volumeMounts: mounts,
});
const s3Container = (name: string, command: string[]) => ({
    name,
    image: "amazon/aws-cli:2.17.0",
    command,
    env: [
        { name: "S3_ENDPOINT", value: "https://nyc3.digitaloceanspaces.com" },
        { name: "S3_BUCKET", value: "hanzo-k8s-postgres-backups" },
        { name: "S3_PREFIX", value: "postgres" },
        { name: "AWS_DEFAULT_REGION", value: "us-east-1" },
        secretRef("AWS_ACCESS_KEY_ID"),
        secretRef("AWS_SECRET_ACCESS_KEY"),
        { name: "BACKUP_DIR", value: "/backup" },
        { name: "HOME", value: "/tmp" },
    ],
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    securityContext: hardened,
    volumeMounts: mounts,
});
function cronJob(name: string, schedule: string, deadline: number, checksum: string, initContainers: object[], container: object) {
    const labels = { "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "hanzo-sql" };
    return {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name, namespace: "hanzo", labels },
        spec: {
            schedule,
            concurrencyPolicy: "Forbid",
            startingDeadlineSeconds: 3600,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 3,
            jobTemplate: {
                spec: {
                    backoffLimit: 1,
                    activeDeadlineSeconds: deadline,
                    template: {
                        metadata: { labels, annotations: { "hanzo.ai/scripts-checksum": checksum } },
                        spec: {
                            restartPolicy: "Never",
                            serviceAccountName: name,
                            automountServiceAccountToken: false,
                            securityContext: {
                                runAsUser: 999,
                                runAsGroup: 999,
                                runAsNonRoot: true,
                                fsGroup: 999,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            initContainers,
                            containers: [container],
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
    };
}

describe("backup configuration", () => {
    const base = {
        environment: "prod",
        clusterName: "c",
        services: ["iam", { name: "sessions", backupRetentionDays: 0 }, { name: "audit", backupRetentionDays: 2555 }],
    };

    it("uses your own S3 endpoint (MinIO) with credentials from config secrets, and creates no bucket", async () => {
        const plan = await planWith(
            "minio",
            {
                ...base,
                backupEndpoint: "http://minio.minio.svc:9000/",
                backupBucket: "pg-backups",
                backupAccessKeyId: "minio-id",
                backupSecretAccessKey: "minio-secret",
            },
            ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"],
        );
        assert.deepStrictEqual([ofType(plan, T.bucket).length, ofType(plan, T.key).length], [0, 0]);
        const env = (resource(plan, T.cronJob, "hanzo-sql-backups-cronjob").inputs as any).spec.jobTemplate.spec.template.spec
            .initContainers[1].env;
        assert.deepStrictEqual(env.slice(0, 2), [
            { name: "S3_ENDPOINT", value: "http://minio.minio.svc:9000" },
            { name: "S3_BUCKET", value: "pg-backups" },
        ]);
        const data = revealed(plan, resource(plan, TYPES.secret, "hanzo-sql-backups-credentials")).stringData as Record<string, string>;
        assert.deepStrictEqual([data.AWS_ACCESS_KEY_ID, data.AWS_SECRET_ACCESS_KEY], ["minio-id", "minio-secret"]);
    });

    it("keeps each service's retention class, and leaves out services with none", async () => {
        const plan = await planWith("retention", base);
        const scripts = (resource(plan, TYPES.configMap, "hanzo-sql-backups-scripts").inputs as any).data;
        assert.match(scripts["stack.sh"], /^databases=\(iam audit\)$/m);
        assert.match(scripts["stack.sh"], /^declare -A retention=\(\[iam\]=30 \[audit\]=2555\)$/m);
        assert.deepStrictEqual(
            ofType(plan, TYPES.grant)
                .filter((g) => g.inputs.role === "hanzo_backup")
                .map((g) => g.inputs.database),
            ["postgres", "iam", "audit"],
        );
    });

    it("declares nothing for backups when disabled", async () => {
        const plan = await planOf("test");
        assert.deepStrictEqual(
            [
                ofType(plan, T.cronJob).length,
                ofType(plan, T.bucket).length,
                ofType(plan, TYPES.role).filter((r) => r.inputs.name === "hanzo_backup").length,
            ],
            [0, 0, 0],
        );
        assert.strictEqual(ofType(plan, TYPES.configMap).filter((c) => c.name.endsWith("exporter-queries")).length, 0);
        assert.strictEqual(plan.outputs.backups, undefined);
    });
});
