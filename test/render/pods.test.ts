import * as assert from "assert";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../../render/adminPassword";
import { BackupPodsInput, backupCronJob, drillCronJob } from "../../render/pods/backup";
import { pgbouncerDeployment } from "../../render/pods/pgbouncer";
import { ServerPodInput, serverPod, serverStatefulSet, serverStatefulSetMetadata } from "../../render/pods/server";

/**
 * The pod builders on their own (as CloudNativePG's pkg/specs/pods_test.go): plain inputs in, the exact pod
 * template out. The plan tests (test/program) check the same objects as the components wire them.
 */

const container = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
const pgIsReady = ["pg_isready", "-U", "hanzo", "-d", "postgres"];

const SERVER: ServerPodInput = {
    role: "primary",
    labels: { app: "db", "app.kubernetes.io/part-of": "hanzo-sql" },
    configChecksum: "c0ffee",
    adminPasswordChecksum: "beef",
    image: "postgres:16.4",
    port: 5432,
    resources: { cpuRequest: "250m", memoryRequest: "1Gi", cpuLimit: "2", memoryLimit: "4Gi" },
    memoryLimitBytes: 4 * 2 ** 30,
    terminationGracePeriodSeconds: 120,
    pgdataAtMountRoot: false,
    serviceAccountName: "db-sa",
    adminSecret: "db-credentials",
    configMap: "db-config",
};
const resources = { requests: { cpu: "250m", memory: "1Gi" }, limits: { cpu: "2", memory: "4Gi" } };

const postgresContainer = (pgdata: string, extraArgs: string[] = []) => ({
    name: "postgres",
    image: "postgres:16.4",
    args: ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "hba_file=/etc/postgresql/pg_hba.conf", ...extraArgs],
    ports: [{ name: "postgresql", containerPort: 5432, protocol: "TCP" }],
    env: [
        { name: "POSTGRES_USER", valueFrom: { secretKeyRef: { name: "db-credentials", key: "username" } } },
        { name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: "db-credentials", key: "password" } } },
        { name: "POSTGRES_DB", value: "postgres" },
        { name: "PGDATA", value: pgdata },
        { name: "POSTGRES_INITDB_ARGS", value: "--data-checksums --encoding=UTF8 --auth-local=trust --auth-host=scram-sha-256" },
    ],
    resources,
    startupProbe: { exec: { command: pgIsReady }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 360 },
    livenessProbe: { exec: { command: pgIsReady }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    readinessProbe: { exec: { command: [...pgIsReady, "-h", "127.0.0.1"] }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
    securityContext: container,
    volumeMounts: [
        { name: "postgres-data", mountPath: "/var/lib/postgresql/data" },
        { name: "config", mountPath: "/etc/postgresql", readOnly: true },
        {
            name: "config",
            mountPath: "/docker-entrypoint-initdb.d/hanzo-admin-search-path.sql",
            subPath: "hanzo-admin-search-path.sql",
            readOnly: true,
        },
        { name: "dshm", mountPath: "/dev/shm" },
        { name: "run", mountPath: "/var/run/postgresql" },
        { name: "tmp", mountPath: "/tmp" },
    ],
});
const applyAdminPassword = (pgdata: string) => ({
    name: "apply-admin-password",
    image: "postgres:16.4",
    command: ["bash", "-c", APPLY_ADMIN_PASSWORD_SCRIPT],
    env: [
        { name: "PGDATA", value: pgdata },
        { name: "HANZO_ADMIN_VERIFIER", valueFrom: { secretKeyRef: { name: "db-credentials", key: "scram-verifier" } } },
        { name: "PG_CONFIG_FILE", value: "/etc/postgresql/postgresql.conf" },
        { name: "PG_HBA_FILE", value: "/etc/postgresql/pg_hba.conf" },
    ],
    resources,
    securityContext: container,
    volumeMounts: [
        { name: "postgres-data", mountPath: "/var/lib/postgresql/data" },
        { name: "config", mountPath: "/etc/postgresql", readOnly: true },
        { name: "dshm", mountPath: "/dev/shm" },
        { name: "tmp", mountPath: "/tmp" },
    ],
});
const serverVolumes = [
    { name: "config", configMap: { name: "db-config" } },
    // 3/4 of the 4Gi limit (policies/standard/settings.ts: shmSizeBytes).
    { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: "3Gi" } },
    { name: "run", emptyDir: {} },
    { name: "tmp", emptyDir: {} },
];

describe("render/pods/server: the server's pod", () => {
    it("a primary: the init container applies the administrator's verifier, the server runs the mounted configuration", () => {
        assert.deepStrictEqual(serverPod(SERVER), {
            metadata: {
                labels: { app: "db", "app.kubernetes.io/part-of": "hanzo-sql" },
                annotations: { "hanzo.ai/config-checksum": "c0ffee", "hanzo.ai/admin-password-checksum": "beef" },
            },
            spec: {
                terminationGracePeriodSeconds: 120,
                enableServiceLinks: false,
                serviceAccountName: "db-sa",
                automountServiceAccountToken: false,
                securityContext: {
                    runAsUser: 999,
                    runAsGroup: 999,
                    runAsNonRoot: true,
                    fsGroup: 999,
                    fsGroupChangePolicy: "OnRootMismatch",
                    seccompProfile: { type: "RuntimeDefault" },
                },
                initContainers: [applyAdminPassword("/var/lib/postgresql/data/pgdata")],
                containers: [postgresContainer("/var/lib/postgresql/data/pgdata")],
                volumes: serverVolumes,
            },
        });
    });

    it("an adopted volume: PGDATA at the mount root and no fsGroup", () => {
        const spec = serverPod({ ...SERVER, pgdataAtMountRoot: true }).spec as any;
        assert.deepStrictEqual(spec.securityContext, {
            runAsUser: 999,
            runAsGroup: 999,
            runAsNonRoot: true,
            seccompProfile: { type: "RuntimeDefault" },
        });
        assert.deepStrictEqual(spec.initContainers, [applyAdminPassword("/var/lib/postgresql/data")]);
        assert.deepStrictEqual(spec.containers, [postgresContainer("/var/lib/postgresql/data")]);
    });

    it("a standby: other labels and arguments, no apply-admin-password (a server in recovery refuses ALTER ROLE)", () => {
        const pod = serverPod({ ...SERVER, role: "standby", labels: { app: "db-standby" }, extraArgs: ["-c", "hot_standby=on"] });
        assert.deepStrictEqual((pod.metadata as any).labels, { app: "db-standby" });
        const spec = pod.spec as any;
        assert.strictEqual(spec.initContainers, undefined);
        assert.deepStrictEqual(spec.containers, [postgresContainer("/var/lib/postgresql/data/pgdata", ["-c", "hot_standby=on"])]);
    });

    it("the exporter sidecar: the monitoring role's Secret over loopback, its extra queries mounted", () => {
        const spec = serverPod({
            ...SERVER,
            exporter: { image: "exporter:0.15", credentialsSecret: "db-monitor", queriesConfigMap: "db-q" },
        }).spec as any;
        assert.deepStrictEqual(spec.containers.slice(1), [
            {
                name: "exporter",
                image: "exporter:0.15",
                env: [
                    { name: "DATA_SOURCE_URI", value: "127.0.0.1:5432/postgres?sslmode=disable" },
                    { name: "DATA_SOURCE_USER", valueFrom: { secretKeyRef: { name: "db-monitor", key: "username" } } },
                    { name: "DATA_SOURCE_PASS", valueFrom: { secretKeyRef: { name: "db-monitor", key: "password" } } },
                    { name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: "/etc/postgres-exporter/queries.yaml" },
                ],
                volumeMounts: [{ name: "exporter-queries", mountPath: "/etc/postgres-exporter", readOnly: true }],
                ports: [{ name: "metrics", containerPort: 9187, protocol: "TCP" }],
                resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "250m", memory: "128Mi" } },
                readinessProbe: { httpGet: { path: "/metrics", port: "metrics" }, periodSeconds: 30, timeoutSeconds: 10 },
                securityContext: container,
            },
        ]);
        assert.deepStrictEqual(spec.volumes, [...serverVolumes, { name: "exporter-queries", configMap: { name: "db-q" } }]);
        // Without extra queries: no mount, no volume, no query path.
        const plain = serverPod({ ...SERVER, exporter: { image: "exporter:0.15", credentialsSecret: "db-monitor" } }).spec as any;
        assert.deepStrictEqual(
            plain.containers[1].env.map((e: { name: string }) => e.name),
            ["DATA_SOURCE_URI", "DATA_SOURCE_USER", "DATA_SOURCE_PASS"],
        );
        assert.strictEqual(plain.containers[1].volumeMounts, undefined);
        assert.deepStrictEqual(plain.volumes, serverVolumes);
    });

    it("the StatefulSet: one replica, the API server's defaults stated, a retained claim; adopted volumes annotated", () => {
        const input = {
            name: "db",
            labels: { app: "db" },
            selector: { app: "db" },
            claim: { storageClass: "ssd", storageSize: "50Gi" },
            pod: SERVER,
        };
        assert.deepStrictEqual(serverStatefulSet(input), {
            serviceName: "db",
            podManagementPolicy: "OrderedReady",
            revisionHistoryLimit: 10,
            replicas: 1,
            selector: { matchLabels: { app: "db" } },
            updateStrategy: { type: "RollingUpdate" },
            persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
            template: serverPod(SERVER),
            volumeClaimTemplates: [
                {
                    metadata: { name: "postgres-data", labels: { app: "db" } },
                    spec: { accessModes: ["ReadWriteOnce"], storageClassName: "ssd", resources: { requests: { storage: "50Gi" } } },
                },
            ],
        });
        assert.deepStrictEqual(serverStatefulSetMetadata(input, "ns"), { name: "db", namespace: "ns", labels: { app: "db" } });
        assert.deepStrictEqual(serverStatefulSetMetadata({ ...input, pod: { ...SERVER, pgdataAtMountRoot: true } }, "ns"), {
            name: "db",
            namespace: "ns",
            labels: { app: "db" },
            annotations: { "hanzo.ai/adopted-volume": "true" },
        });
    });
});

const BACKUP: BackupPodsInput = {
    dumpImage: "postgres:16.4",
    s3Image: "aws-cli:2",
    host: "db.ns.svc",
    port: 5432,
    credentialsSecret: "backup-credentials",
    endpoint: "https://s3.example",
    bucket: "b",
    prefix: "p",
    scriptsConfigMap: "backup-scripts",
    scriptsChecksum: "5c",
};
const JOB = { labels: { "app.kubernetes.io/name": "job" }, serviceAccountName: "job-sa", schedule: "0 3 * * *" };
const secretEnv = (name: string) => ({ name, valueFrom: { secretKeyRef: { name: "backup-credentials", key: name } } });
const pgEnv = [
    { name: "PGHOST", value: "db.ns.svc" },
    { name: "PGPORT", value: "5432" },
    secretEnv("PGUSER"),
    secretEnv("PGPASSWORD"),
    { name: "BACKUP_DIR", value: "/backup" },
];
const s3Env = [
    { name: "S3_ENDPOINT", value: "https://s3.example" },
    { name: "S3_BUCKET", value: "b" },
    { name: "S3_PREFIX", value: "p" },
    { name: "AWS_DEFAULT_REGION", value: "us-east-1" },
    secretEnv("AWS_ACCESS_KEY_ID"),
    secretEnv("AWS_SECRET_ACCESS_KEY"),
    { name: "BACKUP_DIR", value: "/backup" },
    { name: "HOME", value: "/tmp" },
];
const mounts = [
    { name: "backup", mountPath: "/backup" },
    { name: "scripts", mountPath: "/scripts", readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
];
const pgC = (name: string, script: string[], memory: string, env: unknown[] = pgEnv) => ({
    name,
    image: "postgres:16.4",
    command: ["bash", ...script],
    env,
    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory } },
    securityContext: container,
    volumeMounts: mounts,
});
const s3C = (name: string, script: string[]) => ({
    name,
    image: "aws-cli:2",
    command: ["bash", ...script],
    env: s3Env,
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    securityContext: container,
    volumeMounts: mounts,
});
const jobSpec = (deadline: number, initContainers: unknown[], main: unknown) => ({
    schedule: "0 3 * * *",
    concurrencyPolicy: "Forbid",
    startingDeadlineSeconds: 3600,
    successfulJobsHistoryLimit: 3,
    failedJobsHistoryLimit: 3,
    jobTemplate: {
        spec: {
            backoffLimit: 1,
            activeDeadlineSeconds: deadline,
            template: {
                metadata: { labels: { "app.kubernetes.io/name": "job" }, annotations: { "hanzo.ai/scripts-checksum": "5c" } },
                spec: {
                    restartPolicy: "Never",
                    serviceAccountName: "job-sa",
                    automountServiceAccountToken: false,
                    securityContext: {
                        runAsUser: 999,
                        runAsGroup: 999,
                        runAsNonRoot: true,
                        fsGroup: 999,
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    initContainers,
                    containers: [main],
                    volumes: [
                        { name: "backup", emptyDir: {} },
                        { name: "scripts", configMap: { name: "backup-scripts", defaultMode: 0o555 } },
                        { name: "tmp", emptyDir: {} },
                    ],
                },
            },
        },
    },
});

describe("render/pods/backup: the backup and drill CronJobs' pods", () => {
    it("backup: dump, then upload, then report, in four hours at most", () => {
        assert.deepStrictEqual(
            backupCronJob(BACKUP, JOB),
            jobSpec(
                4 * 3600,
                [pgC("dump", ["/scripts/dump.sh"], "1Gi"), s3C("upload", ["/scripts/upload.sh"])],
                pgC("report", ["/scripts/report.sh"], "256Mi"),
            ),
        );
    });
    it("drill: fetch the latest backup, restore it into a scratch server under /tmp, in six hours at most", () => {
        assert.deepStrictEqual(
            drillCronJob(BACKUP, JOB),
            jobSpec(
                6 * 3600,
                [s3C("fetch", ["/scripts/fetch.sh", "latest", "/backup/latest"])],
                pgC("drill", ["/scripts/drill.sh", "/backup/latest"], "2Gi", [...pgEnv, { name: "SCRATCH_DIR", value: "/tmp/drill" }]),
            ),
        );
    });
    it("drill with the WAL archive: the archive's drill first (the stack's image, pgBackRest's key env), its result to the dump drill", () => {
        assert.deepStrictEqual(
            drillCronJob(BACKUP, JOB, { image: "ghcr.io/hanzoai/sql:16-bookworm" }),
            jobSpec(
                6 * 3600,
                [
                    s3C("fetch", ["/scripts/fetch.sh", "latest", "/backup/latest"]),
                    {
                        ...pgC("pitr-drill", ["/scripts/pitr-drill.sh"], "2Gi", [
                            ...pgEnv,
                            { name: "SCRATCH_DIR", value: "/tmp/pitr-drill" },
                            { name: "PITR_CONFIG", value: "/scripts/pgbackrest-drill.conf" },
                            { name: "PITR_RESULT", value: "/backup/pitr-result" },
                            {
                                name: "PGBACKREST_REPO1_S3_KEY",
                                valueFrom: { secretKeyRef: { name: "backup-credentials", key: "AWS_ACCESS_KEY_ID" } },
                            },
                            {
                                name: "PGBACKREST_REPO1_S3_KEY_SECRET",
                                valueFrom: { secretKeyRef: { name: "backup-credentials", key: "AWS_SECRET_ACCESS_KEY" } },
                            },
                        ]),
                        image: "ghcr.io/hanzoai/sql:16-bookworm",
                    },
                ],
                pgC("drill", ["/scripts/drill.sh", "/backup/latest"], "2Gi", [
                    ...pgEnv,
                    { name: "SCRATCH_DIR", value: "/tmp/drill" },
                    { name: "PITR_RESULT", value: "/backup/pitr-result" },
                ]),
            ),
        );
    });
});

describe("render/pods/pgbouncer: the pooler's pod", () => {
    it("PgBouncer as uid 70 with its ini and the userlist Secret (group-readable through fsGroup)", () => {
        assert.deepStrictEqual(
            pgbouncerDeployment({
                replicas: 2,
                selector: { app: "pgbouncer" },
                labels: { app: "pgbouncer" },
                image: "pgbouncer:1.23",
                configChecksum: "c1",
                userlistChecksum: "u1",
                serviceAccountName: "pgbouncer",
                configMap: "pgbouncer-config",
                userlistSecret: "pgbouncer-userlist",
            }),
            {
                replicas: 2,
                selector: { matchLabels: { app: "pgbouncer" } },
                template: {
                    metadata: {
                        labels: { app: "pgbouncer" },
                        annotations: { "hanzo.ai/config-checksum": "c1", "hanzo.ai/userlist-checksum": "u1" },
                    },
                    spec: {
                        serviceAccountName: "pgbouncer",
                        automountServiceAccountToken: false,
                        securityContext: {
                            runAsUser: 70,
                            runAsGroup: 70,
                            runAsNonRoot: true,
                            fsGroup: 70,
                            seccompProfile: { type: "RuntimeDefault" },
                        },
                        containers: [
                            {
                                name: "pgbouncer",
                                image: "pgbouncer:1.23",
                                command: ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"],
                                ports: [{ name: "pgbouncer", containerPort: 6432, protocol: "TCP" }],
                                readinessProbe: { tcpSocket: { port: "pgbouncer" }, periodSeconds: 5 },
                                livenessProbe: { tcpSocket: { port: "pgbouncer" }, periodSeconds: 15, failureThreshold: 4 },
                                resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "1", memory: "256Mi" } },
                                securityContext: container,
                                volumeMounts: [
                                    { name: "config", mountPath: "/etc/pgbouncer/pgbouncer.ini", subPath: "pgbouncer.ini", readOnly: true },
                                    { name: "auth", mountPath: "/etc/pgbouncer/auth", readOnly: true },
                                ],
                            },
                        ],
                        volumes: [
                            { name: "config", configMap: { name: "pgbouncer-config" } },
                            { name: "auth", secret: { secretName: "pgbouncer-userlist", defaultMode: 0o440 } },
                        ],
                    },
                },
            },
        );
    });
});

describe("render/pods/server: WAL archiving from the server container (issue 23)", () => {
    const archive = {
        configMap: "db-pgbackrest",
        secret: "db-backup-s3",
        accessKeyIdKey: "access-key-id",
        secretAccessKeyKey: "secret-access-key",
    };

    it("adds pgBackRest's key env from the backup Secret, its config and an emptyDir spool; nothing else changes", () => {
        const plain = serverPod(SERVER).spec as any;
        const spec = serverPod({ ...SERVER, archive }).spec as any;
        const [pg, before] = [spec.containers[0], plain.containers[0]];
        assert.deepStrictEqual(pg.env.slice(before.env.length), [
            { name: "PGBACKREST_REPO1_S3_KEY", valueFrom: { secretKeyRef: { name: "db-backup-s3", key: "access-key-id" } } },
            { name: "PGBACKREST_REPO1_S3_KEY_SECRET", valueFrom: { secretKeyRef: { name: "db-backup-s3", key: "secret-access-key" } } },
        ]);
        assert.deepStrictEqual(pg.volumeMounts.slice(before.volumeMounts.length), [
            { name: "pgbackrest-config", mountPath: "/etc/pgbackrest", readOnly: true },
            { name: "pgbackrest-spool", mountPath: "/var/spool/pgbackrest" },
        ]);
        assert.deepStrictEqual(spec.volumes.slice(plain.volumes.length), [
            { name: "pgbackrest-config", configMap: { name: "db-pgbackrest" } },
            { name: "pgbackrest-spool", emptyDir: {} },
        ]);
        assert.deepStrictEqual({ ...pg, env: before.env, volumeMounts: before.volumeMounts }, before);
        assert.deepStrictEqual(spec.initContainers, plain.initContainers);
    });

    it("an adopted volume archives the same way (only PGDATA differs)", () => {
        const spec = serverPod({ ...SERVER, pgdataAtMountRoot: true, archive }).spec as any;
        const env = Object.fromEntries(spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        assert.strictEqual(env.PGDATA, "/var/lib/postgresql/data");
        assert.ok(env.PGBACKREST_REPO1_S3_KEY && env.PGBACKREST_REPO1_S3_KEY_SECRET);
    });
});

describe("render/pods/server: a server pod of a stack with standbys (issue 24, render/pods/standby.ts)", () => {
    const replication = { primaryHost: "db.ns.svc", standbysHost: "db-ro.ns.svc", standbys: 2, replicationSecret: "db-replication" };
    const startEnv = (role: string) => [
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "SERVER_ROLE", value: role },
        { name: "PRIMARY_HOST", value: "db.ns.svc" },
        { name: "PRIMARY_PORT", value: "5432" },
        { name: "STANDBYS_HOST", value: "db-ro.ns.svc" },
        { name: "DECLARED_STANDBYS", value: "2" },
        { name: "REPLICATION_PGPASS", value: "/etc/hanzo-sql/replication/pgpass" },
        { name: "ADMIN_PGPASS", value: "/etc/hanzo-sql/admin/pgpass" },
        { name: "RUN_DIR", value: "/tmp" },
        { name: "CONFIG_FILE", value: "/etc/postgresql/postgresql.conf" },
        { name: "PODINFO_LABELS", value: "/etc/podinfo/labels" },
    ];
    const started = (role: string) => {
        const plain = postgresContainer("/var/lib/postgresql/data/pgdata");
        return {
            ...plain,
            command: ["bash", "/etc/postgresql/replica-start.sh"],
            args: ["docker-entrypoint.sh", ...plain.args],
            env: [...plain.env, ...startEnv(role)],
            readinessProbe: {
                exec: { command: ["bash", "/etc/postgresql/role-ready.sh"] },
                periodSeconds: 5,
                timeoutSeconds: 3,
                failureThreshold: 3,
            },
            volumeMounts: [
                ...plain.volumeMounts,
                { name: "replication-credentials", mountPath: "/etc/hanzo-sql/replication", readOnly: true },
                { name: "admin-pgpass", mountPath: "/etc/hanzo-sql/admin", readOnly: true },
                { name: "podinfo", mountPath: "/etc/podinfo", readOnly: true },
            ],
        };
    };
    const volumes = [
        ...serverVolumes,
        {
            name: "replication-credentials",
            secret: { secretName: "db-replication", items: [{ key: "pgpass", path: "pgpass" }], defaultMode: 0o400 },
        },
        { name: "admin-pgpass", secret: { secretName: "db-credentials", items: [{ key: "pgpass", path: "pgpass" }], defaultMode: 0o400 } },
        { name: "podinfo", downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
    ];

    it("the primary: the start script before the entrypoint, the pgpass lines, role-checking readiness, a standby-aware init", () => {
        const spec = serverPod({ ...SERVER, replication }).spec as any;
        const init = applyAdminPassword("/var/lib/postgresql/data/pgdata");
        assert.deepStrictEqual(spec.initContainers, [
            {
                ...init,
                command: [
                    "bash",
                    "-c",
                    `if [ -e "$PGDATA/standby.signal" ]; then echo "apply-admin-password: a standby's volume; its roles are the primary's"; exit 0; fi\n${APPLY_ADMIN_PASSWORD_SCRIPT}`,
                ],
                env: [
                    { name: "PGOPTIONS", value: "-c synchronous_commit=local -c search_path=pg_catalog,pg_temp" },
                    { name: "DECLARED_STANDBYS", value: "2" },
                    ...init.env,
                ],
            },
        ]);
        assert.deepStrictEqual(spec.containers, [started("primary")]);
        assert.deepStrictEqual(spec.volumes, volumes);
    });

    it("a standby: the same but SERVER_ROLE, and no init container", () => {
        const spec = serverPod({ ...SERVER, role: "standby", replication }).spec as any;
        assert.strictEqual(spec.initContainers, undefined);
        assert.deepStrictEqual(spec.containers, [started("standby")]);
        assert.deepStrictEqual(spec.volumes, volumes);
    });

    it("the standbys' StatefulSet: N replicas under their own governing Service", () => {
        const spec = serverStatefulSet({
            name: "db-standby",
            serviceName: "db-ro",
            replicas: 3,
            labels: { app: "db" },
            selector: { app: "db", "app.kubernetes.io/instance": "db-standby" },
            claim: { storageClass: "do-block-storage", storageSize: "50Gi" },
            pod: { ...SERVER, role: "standby", replication },
        }) as any;
        assert.deepStrictEqual(
            [spec.serviceName, spec.replicas, spec.selector],
            ["db-ro", 3, { matchLabels: { app: "db", "app.kubernetes.io/instance": "db-standby" } }],
        );
    });
});

describe("render/pods/server: bootstrapped from another stack's archive (pitrBootstrapFrom, issue 23)", () => {
    const bootstrap = {
        source: "hanzo-k8s-postgres-backups/pitr",
        target: { type: "time", target: "2026-12-05 02:30:00+00" } as const,
        configMap: "db-pitr-bootstrap",
        secret: "db-backup-s3",
        accessKeyIdKey: "access-key-id",
        secretAccessKeyKey: "secret-access-key",
    };

    it("a primary: the restore step first (the server image, its PGDATA and configuration, the bucket's key), then apply-admin-password", () => {
        const plain = serverPod(SERVER).spec as any;
        const spec = serverPod({ ...SERVER, bootstrap }).spec as any;
        assert.deepStrictEqual(spec.initContainers, [
            {
                name: "pitr-bootstrap",
                image: "postgres:16.4",
                command: ["bash", "/etc/pitr-bootstrap/pitr-bootstrap.sh"],
                env: [
                    { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
                    { name: "PG_CONFIG_FILE", value: "/etc/postgresql/postgresql.conf" },
                    { name: "BOOTSTRAP_CONFIG", value: "/etc/pitr-bootstrap/pgbackrest-bootstrap.conf" },
                    { name: "BOOTSTRAP_OWN_CONFIG", value: "/etc/pitr-bootstrap/pgbackrest-own.conf" },
                    { name: "BOOTSTRAP_STANDBYS", value: "0" },
                    { name: "BOOTSTRAP_SOURCE", value: "hanzo-k8s-postgres-backups/pitr" },
                    { name: "BOOTSTRAP_TARGET_TYPE", value: "time" },
                    { name: "BOOTSTRAP_TARGET", value: "2026-12-05 02:30:00+00" },
                    { name: "BOOTSTRAP_SUPERUSER", value: "hanzo" },
                    { name: "BOOTSTRAP_RUN", value: "/tmp/pitr-bootstrap" },
                    { name: "PGBACKREST_REPO1_S3_KEY", valueFrom: { secretKeyRef: { name: "db-backup-s3", key: "access-key-id" } } },
                    {
                        name: "PGBACKREST_REPO1_S3_KEY_SECRET",
                        valueFrom: { secretKeyRef: { name: "db-backup-s3", key: "secret-access-key" } },
                    },
                ],
                resources,
                securityContext: container,
                volumeMounts: [
                    { name: "postgres-data", mountPath: "/var/lib/postgresql/data" },
                    { name: "config", mountPath: "/etc/postgresql", readOnly: true },
                    { name: "dshm", mountPath: "/dev/shm" },
                    { name: "tmp", mountPath: "/tmp" },
                    { name: "pitr-bootstrap", mountPath: "/etc/pitr-bootstrap", readOnly: true },
                ],
            },
            ...plain.initContainers,
        ]);
        assert.deepStrictEqual(spec.volumes, [
            ...plain.volumes,
            { name: "pitr-bootstrap", configMap: { name: "db-pitr-bootstrap", defaultMode: 0o555 } },
        ]);
        assert.deepStrictEqual(spec.containers, plain.containers);
    });

    it("the end of the archive has no target; a standby never bootstraps", () => {
        const latest = serverPod({ ...SERVER, bootstrap: { ...bootstrap, target: { type: "latest" } } }).spec as any;
        const env = latest.initContainers[0].env.map((e: any) => e.name);
        assert.ok(env.includes("BOOTSTRAP_TARGET_TYPE") && !env.includes("BOOTSTRAP_TARGET"));
        const standby = { ...SERVER, role: "standby" as const };
        assert.deepStrictEqual(serverPod({ ...standby, bootstrap }), serverPod(standby));
    });
});
