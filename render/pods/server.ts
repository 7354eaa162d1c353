/**
 * The PostgreSQL server's pod and StatefulSet, built from plain typed inputs (as CloudNativePG's pkg/specs/pods.go
 * builds its instance pods): no resource is created here and nothing is read from the stack's configuration, so
 * the shape is tested on its own (test/render/pods.test.ts) and reused by whatever runs another server of the
 * same shape (a standby: another name, labels, role and arguments). components/postgresInstance.ts wires it.
 */
import { ADMIN_INIT_FILE } from "../privilegedSession";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../adminPassword";
import { ADMIN_ROLE, ADMIN_VERIFIER_KEY, ADOPTED_VOLUME_ANNOTATION } from "../../policies/standard/rules";
import { shmSizeBytes } from "../../policies/standard/settings";
import { METRICS_PORT } from "../../policies/standard/ports";
import { formatBytes } from "../../policies/standard/quantity";
import { hardenedContainer, hardenedPod } from "../securityContext";
import { podIdentity } from "./identity";
import { CONFIG_CHECKSUM_ANNOTATION } from "../checksum";
import { PGBACKREST_CONF_PATH } from "../pitr";
import * as path from "path";
import { SERVER_CONTAINER, serverArgs } from "../../policies/standard/serverPod";
import { BucketKeys, PITR_VOLUMES, SPOOL as PGBACKREST_SPOOL, bucketKeyEnv, pgbackrestSidecar, sidecarVolumes } from "./pitr";
import {
    ReplicationPodInput,
    replicationEnv,
    replicationMounts,
    replicationVolumes,
    roleReadinessProbe,
    standbyAwareAdminPassword,
    startContainerArgs,
} from "./standby";
import { BootstrapInput, pitrBootstrapContainer, pitrBootstrapVolume } from "./bootstrap";

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type PodTemplateSpec = k8s.types.input.core.v1.PodTemplateSpec;
type StatefulSetSpec = k8s.types.input.apps.v1.StatefulSetSpec;
type ObjectMeta = k8s.types.input.meta.v1.ObjectMeta;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/** uid/gid of the `postgres` user in the official PostgreSQL images. */
export const POSTGRES_UID = 999;
/** Where the data volume is mounted, and PGDATA one level below it (STANDARD defect 1: lost+found). */
export const DATA_MOUNT = "/var/lib/postgresql/data";
export const PGDATA = `${DATA_MOUNT}/pgdata`;
/** PGDATA of a volume adopted from the seed's deployment, which initdb'd at the mount root (STANDARD defect 19). */
export const ADOPTED_PGDATA = DATA_MOUNT;
/** The StatefulSet's claim template; the claim of pod 0 is `<template>-<statefulset>-0`. */
export const DATA_CLAIM_TEMPLATE = "postgres-data";
/**
 * The startup probe: liveness waits until the server answers, for up to an hour of crash recovery
 * (STANDARD defect 5).
 */
export const STARTUP_PROBE = { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 360 } as const;
/** Where postgresql.conf and pg_hba.conf are mounted. */
export const CONFIG_DIR = "/etc/postgresql";
/** Where the exporter reads its extra queries. */
export const EXPORTER_QUERIES_DIR = "/etc/postgres-exporter";
/** pgBackRest's async spool in the server container (render/pitr.ts spoolPath). */
export { SPOOL as PGBACKREST_SPOOL } from "./pitr";
/** Pod template annotation whose change rolls the pod when the administrator's password changes. */
export const ADMIN_PASSWORD_CHECKSUM_ANNOTATION = "hanzo.ai/admin-password-checksum";
/**
 * Pod template annotation whose change rolls the pod when the exporter's extra queries change: postgres_exporter
 * reads `--extend.query-path` once, when it first maps the server's version, not on later scrapes.
 */
export const EXPORTER_QUERIES_CHECKSUM_ANNOTATION = "hanzo.ai/exporter-queries-checksum";

/** Requests and limits of the server's containers (Kubernetes quantities). */
export interface ServerResources {
    readonly cpuRequest: string;
    readonly memoryRequest: string;
    readonly cpuLimit: string;
    readonly memoryLimit: string;
}

/** The metrics exporter sidecar: its image, the monitoring role's Secret and, optionally, its extra queries. */
export interface ExporterInput {
    readonly image: string;
    /** Secret with the monitoring role's `username` and `password`. */
    readonly credentialsSecret: pulumi.Input<string>;
    /** ConfigMap with `queries.yaml` (`--extend.query-path`), when there are extra queries. */
    readonly queriesConfigMap?: pulumi.Input<string>;
    /** Checksum of those queries: postgres_exporter reads them once, so a change rolls the pod. */
    readonly queriesChecksum?: string;
}

/** What one server pod is made of. */
export interface ServerPodInput {
    /**
     * `primary` runs the apply-admin-password init container; a `standby` does not: the script starts the server
     * to run ALTER ROLE, which a server in recovery refuses, and a standby's roles come from its primary.
     */
    readonly role: "primary" | "standby";
    /** The pod template's labels (the StatefulSet's selector must match them). */
    readonly labels: Readonly<Record<string, string>>;
    /** The rendered configuration's and the administrator's verifier's checksums, which roll the pod when they change. */
    readonly configChecksum: string;
    readonly adminPasswordChecksum: pulumi.Input<string>;
    /** The server image (an official PostgreSQL image). */
    readonly image: string;
    /** The server's port. */
    readonly port: number;
    readonly resources: ServerResources;
    /** The memory limit in bytes: /dev/shm is sized from it. */
    readonly memoryLimitBytes: number;
    readonly terminationGracePeriodSeconds: number;
    /** PGDATA at the volume's root (a volume adopted from the seed): no fsGroup, and PGDATA there. */
    readonly pgdataAtMountRoot: boolean;
    /** The pod's ServiceAccount (mounted without a token). */
    readonly serviceAccountName: pulumi.Input<string>;
    /** The administrator's Secret (`username`, `password`, the SCRAM verifier). */
    readonly adminSecret: pulumi.Input<string>;
    /** The ConfigMap with postgresql.conf and pg_hba.conf. */
    readonly configMap: pulumi.Input<string>;
    /** Arguments after the configuration files' (`-c name=value` pairs), e.g. a standby's. */
    readonly extraArgs?: readonly string[];
    /** The metrics exporter sidecar, when monitoring is on. */
    readonly exporter?: ExporterInput;
    /** Continuous WAL archiving with pgBackRest from the server container (render/pitr.ts, docs/pitr.md). */
    readonly archive?: ArchiveInput;
    /** A stack with standbys: the start script, its Secrets and the role-checking readiness (render/pods/standby.ts). */
    readonly replication?: ReplicationPodInput;
    /** A primary bootstrapped from another stack's archive on an empty volume (render/pods/bootstrap.ts). */
    readonly bootstrap?: BootstrapInput;
}

/**
 * What archive_command needs in the server container: pgbackrest.conf (a ConfigMap, mounted where
 * render/pitr.ts's commands name it), the bucket's key and secret as pgBackRest's env variables from the
 * backup Secret (never in a file), and the async spool (an emptyDir: acknowledgements and prefetched WAL only).
 */
export interface ArchiveInput extends BucketKeys {
    readonly configMap: pulumi.Input<string>;
    /**
     * The TLS server's Secret (its certificate, key and the CA): the pod then runs the `pgbackrest` sidecar, the
     * base backup Jobs' server (render/pods/pitr.ts).
     */
    readonly tlsSecret?: pulumi.Input<string>;
}

/** PGDATA for the volume's layout. */
export function pgdataOf(pgdataAtMountRoot: boolean): string {
    return pgdataAtMountRoot ? ADOPTED_PGDATA : PGDATA;
}

const PG_IS_READY = ["pg_isready", "-U", ADMIN_ROLE, "-d", "postgres"];

function containerResources(r: ServerResources): k8s.types.input.core.v1.ResourceRequirements {
    return { requests: { cpu: r.cpuRequest, memory: r.memoryRequest }, limits: { cpu: r.cpuLimit, memory: r.memoryLimit } };
}

/**
 * The `apply-admin-password` init container: a changed adminPassword reaches an existing cluster before the
 * server starts (render/adminPassword.ts); on an empty volume it does nothing.
 */
export function applyAdminPasswordContainer(input: ServerPodInput): Container {
    const replicated = input.replication ? standbyAwareAdminPassword(APPLY_ADMIN_PASSWORD_SCRIPT, input.replication.standbys) : undefined;
    return {
        name: "apply-admin-password",
        image: input.image,
        command: replicated?.command ?? ["bash", "-c", APPLY_ADMIN_PASSWORD_SCRIPT],
        env: [
            ...(replicated?.env ?? []),
            { name: "PGDATA", value: pgdataOf(input.pgdataAtMountRoot) },
            {
                name: "HANZO_ADMIN_VERIFIER",
                valueFrom: { secretKeyRef: { name: input.adminSecret, key: ADMIN_VERIFIER_KEY } },
            },
            { name: "PG_CONFIG_FILE", value: `${CONFIG_DIR}/postgresql.conf` },
            { name: "PG_HBA_FILE", value: `${CONFIG_DIR}/pg_hba.conf` },
        ],
        resources: containerResources(input.resources),
        securityContext: hardenedContainer(),
        volumeMounts: [
            { name: "postgres-data", mountPath: DATA_MOUNT },
            { name: "config", mountPath: CONFIG_DIR, readOnly: true },
            { name: "dshm", mountPath: "/dev/shm" },
            { name: "tmp", mountPath: "/tmp" },
        ],
    };
}

/** The `postgres` container: the image's entrypoint with the mounted configuration, probes, the data volume. */
export function serverContainer(input: ServerPodInput): Container {
    return {
        name: SERVER_CONTAINER,
        image: input.image,
        // policies/standard/serverPod.ts: the pack's server-shape refuses any other args (extraArgs included).
        ...(input.replication
            ? {
                  command: startContainerArgs(CONFIG_DIR).command,
                  args: [...startContainerArgs(CONFIG_DIR).args, ...(input.extraArgs ?? [])],
              }
            : { args: [...serverArgs(CONFIG_DIR), ...(input.extraArgs ?? [])] }),
        ports: [{ name: "postgresql", containerPort: input.port, protocol: "TCP" }],
        env: [
            {
                name: "POSTGRES_USER",
                valueFrom: { secretKeyRef: { name: input.adminSecret, key: "username" } },
            },
            {
                name: "POSTGRES_PASSWORD",
                valueFrom: { secretKeyRef: { name: input.adminSecret, key: "password" } },
            },
            { name: "POSTGRES_DB", value: "postgres" },
            { name: "PGDATA", value: pgdataOf(input.pgdataAtMountRoot) },
            {
                name: "POSTGRES_INITDB_ARGS",
                value: "--data-checksums --encoding=UTF8 --auth-local=trust --auth-host=scram-sha-256",
            },
            ...(input.archive ? bucketKeyEnv(input.archive) : []),
            ...(input.replication ? replicationEnv(input.role, input.replication, input.port, CONFIG_DIR, "/tmp") : []),
        ],
        resources: containerResources(input.resources),
        // Liveness only starts once the server has come up, however long crash recovery takes (up to an hour
        // here); STANDARD defect 5.
        startupProbe: { exec: { command: PG_IS_READY }, ...STARTUP_PROBE },
        livenessProbe: {
            exec: { command: PG_IS_READY },
            periodSeconds: 10,
            timeoutSeconds: 5,
            failureThreshold: 6,
        },
        readinessProbe: input.replication
            ? roleReadinessProbe(CONFIG_DIR)
            : {
                  exec: { command: [...PG_IS_READY, "-h", "127.0.0.1"] },
                  periodSeconds: 5,
                  timeoutSeconds: 3,
                  failureThreshold: 3,
              },
        // No preStop hook: the image's STOPSIGNAL is SIGINT, PostgreSQL's fast shutdown (clients disconnected, a
        // shutdown checkpoint), and the grace period leaves it time (defect 11). A hook that waits for PID 1 to
        // exit is killed with it (exit 137, FailedPreStopHook on every stop; defect 17).
        securityContext: hardenedContainer(),
        volumeMounts: [
            { name: DATA_CLAIM_TEMPLATE, mountPath: DATA_MOUNT },
            { name: "config", mountPath: CONFIG_DIR, readOnly: true },
            // The administrator's role setting, run once by the entrypoint after initdb (issue 21).
            { name: "config", mountPath: `/docker-entrypoint-initdb.d/${ADMIN_INIT_FILE}`, subPath: ADMIN_INIT_FILE, readOnly: true },
            { name: "dshm", mountPath: "/dev/shm" },
            { name: "run", mountPath: "/var/run/postgresql" },
            { name: "tmp", mountPath: "/tmp" },
            ...(input.archive
                ? [
                      { name: PITR_VOLUMES.config, mountPath: path.posix.dirname(PGBACKREST_CONF_PATH), readOnly: true },
                      { name: PITR_VOLUMES.spool, mountPath: PGBACKREST_SPOOL },
                  ]
                : []),
            ...(input.replication ? replicationMounts() : []),
        ],
    };
}

/** The metrics exporter: over loopback with SCRAM, as the monitoring role (never the superuser); it retries until the role exists. */
export function exporterContainer(port: number, exporter: ExporterInput): Container {
    const queries = exporter.queriesConfigMap !== undefined;
    return {
        name: "exporter",
        image: exporter.image,
        env: [
            { name: "DATA_SOURCE_URI", value: `127.0.0.1:${port}/postgres?sslmode=disable` },
            { name: "DATA_SOURCE_USER", valueFrom: { secretKeyRef: { name: exporter.credentialsSecret, key: "username" } } },
            { name: "DATA_SOURCE_PASS", valueFrom: { secretKeyRef: { name: exporter.credentialsSecret, key: "password" } } },
            ...(queries ? [{ name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: `${EXPORTER_QUERIES_DIR}/queries.yaml` }] : []),
        ],
        ...(queries ? { volumeMounts: [{ name: "exporter-queries", mountPath: EXPORTER_QUERIES_DIR, readOnly: true }] } : {}),
        ports: [{ name: "metrics", containerPort: METRICS_PORT, protocol: "TCP" }],
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "250m", memory: "128Mi" } },
        readinessProbe: { httpGet: { path: "/metrics", port: "metrics" }, periodSeconds: 30, timeoutSeconds: 10 },
        securityContext: hardenedContainer(),
    };
}

/** The pod's volumes besides the data claim: the configuration, /dev/shm, the socket and /tmp, the exporter's queries. */
export function serverVolumes(input: ServerPodInput): Volume[] {
    return [
        { name: "config", configMap: { name: input.configMap } },
        // Parallel queries and index builds use /dev/shm; 64MB is not enough (defect 6).
        {
            name: "dshm",
            emptyDir: { medium: "Memory", sizeLimit: formatBytes(shmSizeBytes(input.memoryLimitBytes)) },
        },
        { name: "run", emptyDir: {} },
        { name: "tmp", emptyDir: {} },
        ...(input.exporter?.queriesConfigMap !== undefined
            ? [{ name: "exporter-queries", configMap: { name: input.exporter.queriesConfigMap } }]
            : []),
        ...(input.archive
            ? [
                  { name: PITR_VOLUMES.config, configMap: { name: input.archive.configMap } },
                  { name: PITR_VOLUMES.spool, emptyDir: {} },
                  ...(input.archive.tlsSecret !== undefined ? sidecarVolumes(input.archive.tlsSecret, !input.pgdataAtMountRoot) : []),
              ]
            : []),
        ...(input.replication ? replicationVolumes(input.replication, input.adminSecret) : []),
        ...(input.bootstrap && input.role === "primary" ? [pitrBootstrapVolume(input.bootstrap)] : []),
    ];
}

/** The `pgbackrest` sidecar of a server pod that archives (render/pods/pitr.ts). */
function archiveSidecar(input: ServerPodInput, archive: ArchiveInput): Container {
    return pgbackrestSidecar({
        image: input.image,
        keys: archive,
        dataVolume: DATA_CLAIM_TEMPLATE,
        dataMount: DATA_MOUNT,
        socketVolume: "run",
        socketMount: "/var/run/postgresql",
    });
}

/** The server's pod template: the containers, volumes, probes, security contexts and the exporter sidecar. */
export function serverPod(input: ServerPodInput): PodTemplateSpec {
    return {
        metadata: {
            labels: { ...input.labels },
            annotations: {
                [CONFIG_CHECKSUM_ANNOTATION]: input.configChecksum,
                [ADMIN_PASSWORD_CHECKSUM_ANNOTATION]: input.adminPasswordChecksum,
                ...(input.exporter?.queriesChecksum !== undefined
                    ? { [EXPORTER_QUERIES_CHECKSUM_ANNOTATION]: input.exporter.queriesChecksum }
                    : {}),
            },
        },
        spec: {
            terminationGracePeriodSeconds: input.terminationGracePeriodSeconds,
            enableServiceLinks: false,
            ...podIdentity(input.serviceAccountName),
            // No fsGroup with PGDATA at the mount root (an adopted volume): the kubelet would find the root's mode
            // 0700 without setgid and recursively make PGDATA group-writable (SetVolumeOwnership,
            // pkg/volume/volume_linux.go), which PostgreSQL refuses to start on; the seed's files already belong
            // to uid 999.
            securityContext: hardenedPod(POSTGRES_UID, input.pgdataAtMountRoot ? "none" : "onRootMismatch"),
            ...(input.role === "primary"
                ? {
                      initContainers: [
                          // The restore step first: the administrator's verifier then applies to the restored cluster.
                          ...(input.bootstrap
                              ? [
                                    pitrBootstrapContainer(
                                        {
                                            image: input.image,
                                            resources: containerResources(input.resources),
                                            pgdata: pgdataOf(input.pgdataAtMountRoot),
                                            postgresqlConf: `${CONFIG_DIR}/postgresql.conf`,
                                            volumeMounts: applyAdminPasswordContainer(input).volumeMounts as VolumeMount[],
                                            standbys: input.replication?.standbys ?? 0,
                                            ...(input.replication
                                                ? { primary: { host: input.replication.primaryHost, port: input.port } }
                                                : {}),
                                        },
                                        input.bootstrap,
                                    ),
                                ]
                              : []),
                          applyAdminPasswordContainer(input),
                      ],
                  }
                : {}),
            containers: [
                serverContainer(input),
                ...(input.exporter ? [exporterContainer(input.port, input.exporter)] : []),
                ...(input.archive?.tlsSecret !== undefined ? [archiveSidecar(input, input.archive)] : []),
            ],
            volumes: serverVolumes(input),
        },
    };
}

/** The data volume's claim template. */
export interface DataClaimInput {
    readonly storageClass: string;
    readonly storageSize: string;
}

/** What the server's StatefulSet is made of: its name (also its headless Service's), selector and volume. */
export interface ServerStatefulSetInput {
    /** The StatefulSet's name and its governing Service's. */
    readonly name: string;
    /** The StatefulSet's labels (also its claim template's). */
    readonly labels: Readonly<Record<string, string>>;
    /** The pod selector (a subset of the pod's labels). */
    readonly selector: Readonly<Record<string, string>>;
    readonly claim: DataClaimInput;
    readonly pod: ServerPodInput;
    /** Pods (default 1: the primary's StatefulSet); the standbys' StatefulSet has one per standby. */
    readonly replicas?: number;
    /** The governing Service (default: `name`); the standbys' is `postgres-ro`. */
    readonly serviceName?: string;
}

/** The StatefulSet's metadata in `namespace`. */
export function serverStatefulSetMetadata(input: ServerStatefulSetInput, namespace: pulumi.Input<string>): ObjectMeta {
    return {
        name: input.name,
        namespace,
        labels: { ...input.labels },
        // The policy accepts PGDATA at the mount root only on a volume adopted from the seed.
        ...(input.pod.pgdataAtMountRoot ? { annotations: { [ADOPTED_VOLUME_ANNOTATION]: "true" } } : {}),
    };
}

/** The server's StatefulSet spec: one replica of serverPod with its data claim, which outlives the StatefulSet. */
export function serverStatefulSet(input: ServerStatefulSetInput): StatefulSetSpec {
    return {
        serviceName: input.serviceName ?? input.name,
        // The API server's defaults, stated: an imported StatefulSet's inputs are read from the live object,
        // defaults included, and both fields force a replacement when they differ
        // (policies/standard/replacement.ts), so adopting the seed's must not see them change.
        podManagementPolicy: "OrderedReady",
        revisionHistoryLimit: 10,
        replicas: input.replicas ?? 1,
        selector: { matchLabels: { ...input.selector } },
        updateStrategy: { type: "RollingUpdate" },
        // The volume outlives the StatefulSet: deleting or scaling it never deletes data.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        template: serverPod(input.pod),
        volumeClaimTemplates: [
            {
                metadata: { name: DATA_CLAIM_TEMPLATE, labels: { ...input.labels } },
                spec: {
                    accessModes: ["ReadWriteOnce"],
                    storageClassName: input.claim.storageClass,
                    resources: { requests: { storage: input.claim.storageSize } },
                },
            },
        ],
    };
}
