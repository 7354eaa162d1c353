/**
 * The archive's containers and CronJobs (render/pitrPod.ts says the shape): the pgBackRest TLS-server sidecar
 * of the server pod, and the base backup CronJob that is its client. Pure builders of plain typed inputs;
 * components/pitr.ts and components/postgresInstance.ts wire them. Neither sets PGDATA or runs `postgres`, so
 * the pack's server-shape sees one server in the pod (policies/serverShape.ts); both are hardened like every
 * container of the program.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { hardenedContainer, hardenedPod } from "../securityContext";
import { podIdentity } from "./identity";
import { BackupJobInput, cronJob } from "./backup";
import { PGBACKREST_CONF_PATH, PGBACKREST_KEY_ENV } from "../pitr";
import { PGBACKREST_SERVER_KEY_DIR, PGBACKREST_TLS_DIR, PGBACKREST_TLS_PORT, backupScript, sidecarScript } from "../pitrPod";

type Container = k8s.types.input.core.v1.Container;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type Volume = k8s.types.input.core.v1.Volume;

/** The sidecar's container name, and its port's name. */
export const PGBACKREST_CONTAINER = "pgbackrest";
/** Volume names the archive adds to a pod. */
export const PITR_VOLUMES = {
    config: "pgbackrest-config",
    spool: "pgbackrest-spool",
    tls: "pgbackrest-tls",
    key: "pgbackrest-key",
} as const;
/** pgBackRest's spool (locks, async acknowledgements) in every container that runs it; render/pitr.ts spoolPath. */
export const SPOOL = "/var/spool/pgbackrest";
/** uid/gid of the backup Jobs (`postgres` of the server image, which carries pgBackRest). */
export const PITR_JOB_UID = 999;

/** The bucket's key and secret, as pgBackRest's env variables, from a Secret. */
export interface BucketKeys {
    /** The Secret with the bucket's access key and secret, and their keys in it. */
    readonly secret: pulumi.Input<string>;
    readonly accessKeyIdKey: string;
    readonly secretAccessKeyKey: string;
}

export function bucketKeyEnv(keys: BucketKeys): EnvVar[] {
    return [
        { name: PGBACKREST_KEY_ENV.key, valueFrom: { secretKeyRef: { name: keys.secret, key: keys.accessKeyIdKey } } },
        { name: PGBACKREST_KEY_ENV.secret, valueFrom: { secretKeyRef: { name: keys.secret, key: keys.secretAccessKeyKey } } },
    ];
}

/**
 * A Secret volume of TLS material. The files are readable by the pod's group (fsGroup) only; a pod without
 * fsGroup (an adopted volume, render/pods/server.ts) gets them world-readable inside the pod, where only the
 * sidecar mounts them.
 */
export function tlsVolume(secret: pulumi.Input<string>, fsGroup: boolean): Volume {
    return { name: PITR_VOLUMES.tls, secret: { secretName: secret, defaultMode: fsGroup ? 0o440 : 0o444 } };
}

/** What the sidecar needs from the server pod it joins. */
export interface SidecarInput {
    readonly image: string;
    readonly keys: BucketKeys;
    /** The data volume's name and mount (PGDATA is read through it), and the server's socket volume's. */
    readonly dataVolume: string;
    readonly dataMount: string;
    readonly socketVolume: string;
    readonly socketMount: string;
}

/**
 * The `pgbackrest` sidecar: creates the stanza once the server answers, then runs pgBackRest's TLS server for
 * the backup Jobs. It shares the server container's pgbackrest.conf, spool (locks) and PGDATA.
 */
export function pgbackrestSidecar(input: SidecarInput): Container {
    return {
        name: PGBACKREST_CONTAINER,
        image: input.image,
        command: ["bash", "-c", sidecarScript()],
        env: bucketKeyEnv(input.keys),
        ports: [{ name: PGBACKREST_CONTAINER, containerPort: PGBACKREST_TLS_PORT, protocol: "TCP" }],
        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1", memory: "512Mi" } },
        readinessProbe: { tcpSocket: { port: PGBACKREST_CONTAINER }, periodSeconds: 10, timeoutSeconds: 5 },
        securityContext: hardenedContainer(),
        volumeMounts: [
            { name: input.dataVolume, mountPath: input.dataMount },
            { name: input.socketVolume, mountPath: input.socketMount },
            { name: PITR_VOLUMES.config, mountPath: path.posix.dirname(PGBACKREST_CONF_PATH), readOnly: true },
            { name: PITR_VOLUMES.spool, mountPath: SPOOL },
            { name: PITR_VOLUMES.tls, mountPath: PGBACKREST_TLS_DIR, readOnly: true },
            { name: PITR_VOLUMES.key, mountPath: PGBACKREST_SERVER_KEY_DIR },
            { name: "tmp", mountPath: "/tmp" },
        ],
    };
}

/** The sidecar's volumes in the server pod: the TLS Secret, and the memory volume of its key's copy. */
export function sidecarVolumes(secret: pulumi.Input<string>, fsGroup: boolean): Volume[] {
    return [tlsVolume(secret, fsGroup), { name: PITR_VOLUMES.key, emptyDir: { medium: "Memory", sizeLimit: "1Mi" } }];
}

/** What the base backup CronJobs are made of. */
export interface PitrBackupInput {
    /** The server image (it carries pgBackRest). */
    readonly image: string;
    readonly keys: BucketKeys;
    /** The ConfigMap with both pgbackrest files, and its checksum (a change rolls the next Job). */
    readonly configMap: pulumi.Input<string>;
    readonly configChecksum: string;
    /** The client's TLS Secret. */
    readonly tlsSecret: pulumi.Input<string>;
    /** The files are copied from a standby (`backup-standby=y` in the Jobs' file: a stack with standbys). */
    readonly fromStandby?: boolean;
}

/** The base backup's CronJob: a full or differential backup through the server pod's TLS server. */
export function pitrBackupCronJob(
    input: PitrBackupInput,
    job: BackupJobInput,
    type: "full" | "diff",
): k8s.types.input.batch.v1.CronJobSpec {
    return cronJob(job, 6 * 3600, {
        metadata: { labels: { ...job.labels }, annotations: { "hanzo.ai/config-checksum": input.configChecksum } },
        spec: {
            restartPolicy: "Never",
            ...podIdentity(job.serviceAccountName),
            securityContext: hardenedPod(PITR_JOB_UID, "always"),
            containers: [
                {
                    name: "backup",
                    image: input.image,
                    command: ["bash", "-c", backupScript(type, input.fromStandby === true)],
                    env: bucketKeyEnv(input.keys),
                    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } },
                    securityContext: hardenedContainer(),
                    volumeMounts: [
                        { name: PITR_VOLUMES.config, mountPath: path.posix.dirname(PGBACKREST_CONF_PATH), readOnly: true },
                        { name: PITR_VOLUMES.spool, mountPath: SPOOL },
                        { name: PITR_VOLUMES.tls, mountPath: PGBACKREST_TLS_DIR, readOnly: true },
                        { name: "tmp", mountPath: "/tmp" },
                    ],
                },
            ],
            volumes: [
                { name: PITR_VOLUMES.config, configMap: { name: input.configMap } },
                { name: PITR_VOLUMES.spool, emptyDir: {} },
                tlsVolume(input.tlsSecret, true),
                { name: "tmp", emptyDir: {} },
            ],
        },
    });
}
