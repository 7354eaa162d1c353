/**
 * The backup and restore-drill CronJobs' pods, built from plain typed inputs: the PostgreSQL client containers
 * (dump, report, drill) and the S3 client containers (upload, fetch) share the pod's /backup volume and run the
 * scripts of render/backup.ts from a ConfigMap. No resource is created here (components/backups.ts wires them).
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { hardenedContainer, hardenedPod } from "../securityContext";
import { podIdentity } from "./identity";
import { PGBACKREST_KEY_ENV } from "../pitr";
import { PITR_DRILL_FILES } from "../backup";

type Container = k8s.types.input.core.v1.Container;
type EnvVar = k8s.types.input.core.v1.EnvVar;

/** uid/gid the backup pods run as (`postgres` in the official PostgreSQL images). */
export const BACKUP_UID = 999;
/** Pod template annotation whose change rolls the next Job when the scripts change. */
export const SCRIPTS_CHECKSUM_ANNOTATION = "hanzo.ai/scripts-checksum";

/** What every backup and drill pod shares: images, where the server and the bucket are, the credentials and scripts. */
export interface BackupPodsInput {
    /** Image with the PostgreSQL client (dump, report, drill). */
    readonly dumpImage: string;
    /** Image with the AWS CLI (upload, fetch). */
    readonly s3Image: string;
    /** In-cluster host and port of the server. */
    readonly host: string;
    readonly port: number;
    /** Secret with PGUSER, PGPASSWORD, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. */
    readonly credentialsSecret: pulumi.Input<string>;
    /** The bucket's endpoint URL, its name and the prefix of every key. */
    readonly endpoint: pulumi.Input<string>;
    readonly bucket: pulumi.Input<string>;
    readonly prefix: string;
    /** ConfigMap with the scripts, and the scripts' checksum. */
    readonly scriptsConfigMap: pulumi.Input<string>;
    readonly scriptsChecksum: string;
    /**
     * Path in the pod of the CA that signed the endpoint's certificate (pitrEndpointCa, a key of the scripts'
     * ConfigMap), for an endpoint of your own with a private CA: the AWS CLI's `AWS_CA_BUNDLE`.
     */
    readonly caBundle?: string;
}

/** One CronJob of them: its pods' labels and ServiceAccount, its schedule. */
export interface BackupJobInput {
    readonly labels: Readonly<Record<string, string>>;
    readonly serviceAccountName: pulumi.Input<string>;
    readonly schedule: string;
}

function fromSecret(input: BackupPodsInput, env: string, key: string): EnvVar {
    return { name: env, valueFrom: { secretKeyRef: { name: input.credentialsSecret, key } } };
}

const MOUNTS = [
    { name: "backup", mountPath: "/backup" },
    { name: "scripts", mountPath: "/scripts", readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
];

/** The PostgreSQL client's environment: the server, the backup role, the dumps' directory. */
export function pgEnv(input: BackupPodsInput): EnvVar[] {
    return [
        { name: "PGHOST", value: input.host },
        { name: "PGPORT", value: String(input.port) },
        fromSecret(input, "PGUSER", "PGUSER"),
        fromSecret(input, "PGPASSWORD", "PGPASSWORD"),
        { name: "BACKUP_DIR", value: "/backup" },
    ];
}

/** The S3 client's environment: the bucket and its key, the dumps' directory. */
export function s3Env(input: BackupPodsInput): EnvVar[] {
    return [
        { name: "S3_ENDPOINT", value: input.endpoint },
        { name: "S3_BUCKET", value: input.bucket },
        { name: "S3_PREFIX", value: input.prefix },
        { name: "AWS_DEFAULT_REGION", value: "us-east-1" },
        fromSecret(input, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        fromSecret(input, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        { name: "BACKUP_DIR", value: "/backup" },
        { name: "HOME", value: "/tmp" },
        ...(input.caBundle !== undefined ? [{ name: "AWS_CA_BUNDLE", value: input.caBundle }] : []),
    ];
}

/** A container of the PostgreSQL client image running `command` with up to `memory`. */
export function pgContainer(input: BackupPodsInput, name: string, command: string[], memory: string): Container {
    return {
        name,
        image: input.dumpImage,
        command,
        env: pgEnv(input),
        resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory } },
        securityContext: hardenedContainer(),
        volumeMounts: MOUNTS,
    };
}

/** A container of the S3 client image running `command`. */
export function s3Container(input: BackupPodsInput, name: string, command: string[]): Container {
    return {
        name,
        image: input.s3Image,
        command,
        env: s3Env(input),
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
        securityContext: hardenedContainer(),
        volumeMounts: MOUNTS,
    };
}

/** The pod template of a backup or drill Job: `initContainers` run in order, then `container`. */
export function backupPod(
    input: BackupPodsInput,
    job: BackupJobInput,
    initContainers: Container[],
    container: Container,
): k8s.types.input.core.v1.PodTemplateSpec {
    return {
        metadata: {
            labels: { ...job.labels },
            annotations: { [SCRIPTS_CHECKSUM_ANNOTATION]: input.scriptsChecksum },
        },
        spec: {
            restartPolicy: "Never",
            ...podIdentity(job.serviceAccountName),
            securityContext: hardenedPod(BACKUP_UID, "always"),
            initContainers,
            containers: [container],
            volumes: [
                { name: "backup", emptyDir: {} },
                { name: "scripts", configMap: { name: input.scriptsConfigMap, defaultMode: 0o555 } },
                { name: "tmp", emptyDir: {} },
            ],
        },
    };
}

/** The CronJob shape every backup-like job shares (one at a time, a deadline, one retry, three of each kept). */
export function cronJob(
    job: BackupJobInput,
    deadlineSeconds: number,
    template: k8s.types.input.core.v1.PodTemplateSpec,
): k8s.types.input.batch.v1.CronJobSpec {
    return {
        schedule: job.schedule,
        concurrencyPolicy: "Forbid",
        startingDeadlineSeconds: 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
            spec: {
                backoffLimit: 1,
                activeDeadlineSeconds: deadlineSeconds,
                template,
            },
        },
    };
}

/**
 * The backup CronJob: 1. dump each database on its own; 2. upload the good dumps, the manifest last, prune;
 * 3. record each database's result where the exporter reads it, and fail the Job if any failed.
 */
export function backupCronJob(input: BackupPodsInput, job: BackupJobInput): k8s.types.input.batch.v1.CronJobSpec {
    return cronJob(
        job,
        4 * 3600,
        backupPod(
            input,
            job,
            [pgContainer(input, "dump", ["bash", "/scripts/dump.sh"], "1Gi"), s3Container(input, "upload", ["bash", "/scripts/upload.sh"])],
            pgContainer(input, "report", ["bash", "/scripts/report.sh"], "256Mi"),
        ),
    );
}

/**
 * The restore drill of the WAL archive (docs/pitr.md, "The drill"), when the stack archives: an image with
 * pgBackRest and the PostgreSQL server (the stack's own), the drill's pgbackrest.conf in the scripts'
 * ConfigMap (render/pitr.ts renderRestorePgbackrestConf), the bucket's key as pgBackRest's env variables.
 */
export interface PitrDrillInput {
    readonly image: string;
}

/** The archive drill's scratch directory (the pod's /tmp volume) and where its result waits for the dump drill. */
export const PITR_DRILL_SCRATCH = "/tmp/pitr-drill";
export const PITR_DRILL_RESULT = "/backup/pitr-result";

/**
 * The `pitr-drill` init container: restores the latest base backup and its WAL to a target it marks on the
 * real server, checks the markers, records the result and the restore's duration (render/scripts/pitr-drill.sh).
 * It exits 0 once it has recorded a failure; the dump drill after it fails the Job then.
 */
export function pitrDrillContainer(input: BackupPodsInput, pitr: PitrDrillInput): Container {
    const base = pgContainer(input, "pitr-drill", ["bash", "/scripts/pitr-drill.sh"], "2Gi");
    return {
        ...base,
        image: pitr.image,
        env: [
            ...pgEnv(input),
            { name: "SCRATCH_DIR", value: PITR_DRILL_SCRATCH },
            { name: "PITR_CONFIG", value: `/scripts/${PITR_DRILL_FILES.conf}` },
            { name: "PITR_RESULT", value: PITR_DRILL_RESULT },
            fromSecret(input, PGBACKREST_KEY_ENV.key, "AWS_ACCESS_KEY_ID"),
            fromSecret(input, PGBACKREST_KEY_ENV.secret, "AWS_SECRET_ACCESS_KEY"),
        ],
    };
}

/**
 * The restore drill's CronJob: fetch the latest complete backup, restore it into a scratch server in the pod,
 * check it, record the result. The scratch server's data lives in the pod's /tmp volume. With `pitr`, the WAL
 * archive's drill runs first (its scratch directory is gone before the dumps' drill starts), and the dumps'
 * drill fails the Job when it failed.
 */
export function drillCronJob(input: BackupPodsInput, job: BackupJobInput, pitr?: PitrDrillInput): k8s.types.input.batch.v1.CronJobSpec {
    return cronJob(
        job,
        6 * 3600,
        backupPod(
            input,
            job,
            [
                s3Container(input, "fetch", ["bash", "/scripts/fetch.sh", "latest", "/backup/latest"]),
                ...(pitr ? [pitrDrillContainer(input, pitr)] : []),
            ],
            {
                ...pgContainer(input, "drill", ["bash", "/scripts/drill.sh", "/backup/latest"], "2Gi"),
                env: [
                    ...pgEnv(input),
                    { name: "SCRATCH_DIR", value: "/tmp/drill" },
                    ...(pitr ? [{ name: "PITR_RESULT", value: PITR_DRILL_RESULT }] : []),
                ],
            },
        ),
    );
}
