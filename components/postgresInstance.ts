import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "crypto";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../render/adminPassword";
import { hbaRules, renderPgHba } from "../policies/standard/pgHba";
import { renderPostgresqlConf } from "../policies/standard/postgresqlConf";
import { ADMIN_ROLE, ADMIN_VERIFIER_KEY, ADOPTED_VOLUME_ANNOTATION, MONITOR_ROLE } from "../policies/standard/rules";
import { shmSizeBytes } from "../policies/standard/settings";
import { METRICS_PORT } from "../policies/standard/ports";
import { formatBytes } from "../policies/standard/quantity";
import { instanceSettings } from "../render/serverSettings";
import { replacementOptions } from "../policies/standard/replacement";
import { TYPES } from "../policies/standard/types";
import type { InstanceSpec, MonitoringSpec } from "../stacks/spec";
import { dnsEgress } from "../render/egress";
import { egressPolicy, podIdentity, workloadServiceAccount } from "./hardening";
import { labels as objectLabels } from "../render/labels";
import { hardenedContainer, hardenedPod } from "../render/securityContext";
import { dataProtection } from "./protection";
import { scramSecret } from "./roles";
import { stateInputs } from "./stateInputs";

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
/**
 * How long `pulumi up` waits for the StatefulSet's rollout: the startup probe's whole window plus 15 minutes
 * for scheduling, volume attachment, the image pull and the readiness probe. pulumi-kubernetes awaits a
 * StatefulSet for 10 minutes by default (`DefaultStatefulSetTimeoutMins`, provider/pkg/await/statefulset.go),
 * and a resource's customTimeouts take precedence over everything else (`metadata.TimeoutDuration`,
 * provider/pkg/metadata/overrides.go), so a slow recovery neither fails `up` nor leaves it waiting forever.
 */
export const ROLLOUT_TIMEOUT = `${Math.ceil((STARTUP_PROBE.periodSeconds * STARTUP_PROBE.failureThreshold) / 60) + 15}m`;

/** Where postgresql.conf and pg_hba.conf are mounted. */
export const CONFIG_DIR = "/etc/postgresql";
/** Where the exporter reads its extra queries. */
const EXPORTER_QUERIES_DIR = "/etc/postgres-exporter";
/** The exporter's port (postgres_exporter's default), named `metrics` on the pod. */
export { METRICS_PORT };
/** Pod template annotation whose change rolls the pod when the rendered configuration changes. */
export const CONFIG_CHECKSUM_ANNOTATION = "hanzo.ai/config-checksum";
/** Pod template annotation whose change rolls the pod when the administrator's password changes. */
export const ADMIN_PASSWORD_CHECKSUM_ANNOTATION = "hanzo.ai/admin-password-checksum";

/** SHA-256 over the files' names and contents, independent of their order. */
export function configChecksum(files: Readonly<Record<string, string>>): string {
    const hash = createHash("sha256");
    for (const name of Object.keys(files).sort()) {
        hash.update(`${name}\0${files[name]}\0`);
    }
    return hash.digest("hex");
}

export interface PostgresInstanceArgs {
    /** Namespace of every object. */
    readonly namespace: pulumi.Input<string>;
    /** Sizing, image and network settings from the stack spec. */
    readonly instance: InstanceSpec;
    /** Superuser password; generated with @pulumi/random when absent. */
    readonly adminPassword?: pulumi.Input<string>;
    /** Namespaces whose pods may reach port 5432 besides the server's own (services declared elsewhere). */
    readonly clientNamespaces: readonly string[];
    /** Protect the StatefulSet (and so its data) from deletion and replacement. */
    readonly protectData: boolean;
    /** The metrics exporter sidecar (and its port in the NetworkPolicy), when monitoring is on. */
    readonly monitoring: MonitoringSpec;
    /** The namespace's name, known at declaration: import IDs are `<namespace>/<name>`. */
    readonly namespaceName: string;
    /** Adopt the seed's objects of the same names (`import`) instead of creating them. */
    readonly adopt: boolean;
    /** Extra queries for the exporter (`--extend.query-path`): the backups' per-database results. */
    readonly exporterQueries?: string;
}

/**
 * The PostgreSQL server on Kubernetes (STANDARD §3, §4, §7): superuser Secret, rendered configuration,
 * StatefulSet, headless Service and NetworkPolicy.
 */
export class PostgresInstance extends pulumi.ComponentResource {
    /** The superuser's password (secret). */
    public readonly adminPassword: pulumi.Output<string>;
    /** Its SCRAM-SHA-256 verifier (secret), the form the server is given. */
    public readonly adminVerifier: pulumi.Output<string>;
    /** Name of the Secret holding the superuser's `username` and `password`. */
    public readonly adminSecretName: pulumi.Output<string>;
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    public readonly service: k8s.core.v1.Service;
    /** The rendered files, by file name (postgresql.conf, pg_hba.conf). */
    public readonly files: Readonly<Record<string, string>>;
    /** SHA-256 of the rendered files; the pod template carries it so a change rolls the pod. */
    public readonly configChecksum: string;
    /** The exporter's password (secret), for the monitoring role; undefined without monitoring. */
    public readonly monitorPassword?: pulumi.Output<string>;

    constructor(name: string, args: PostgresInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hanzo-sql:index:PostgresInstance", name, stateInputs(args), opts);
        const spec = args.instance;
        if (args.adopt && args.adminPassword === undefined) {
            throw new pulumi.ResourceError(
                `PostgresInstance ${name}: adopting a running server needs its superuser's password (adminPassword); a generated one would lock the program out`,
                this,
            );
        }
        const labels = objectLabels({ app: spec.name, name: "postgresql", instance: spec.name });
        const selector = { app: spec.name };
        /** Adopts the running object of that name; once it is in the stack's state the option does nothing. */
        const adopted = (objectName: string): pulumi.CustomResourceOptions =>
            args.adopt ? { import: `${args.namespaceName}/${objectName}` } : {};
        const pgdata = spec.pgdataAtMountRoot ? ADOPTED_PGDATA : PGDATA;

        this.adminPassword = pulumi.secret(
            args.adminPassword ??
                new random.RandomPassword(`${name}-admin-password`, { length: 32, special: false }, { parent: this }).result,
        );
        this.adminVerifier = scramSecret(`${name}-admin-password-salt`, this.adminPassword, 1, { parent: this });
        const adminSecret = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: { name: `${spec.name}-credentials`, namespace: args.namespace, labels },
                type: "Opaque",
                stringData: { username: ADMIN_ROLE, password: this.adminPassword, [ADMIN_VERIFIER_KEY]: this.adminVerifier },
            },
            { parent: this, ...adopted(`${spec.name}-credentials`) },
        );
        this.adminSecretName = adminSecret.metadata.name;
        // Rolls the pod when the password changes, so the init container applies it. A hash of the salted
        // verifier (the salt is only in the Secret) tells nothing about the password.
        const adminChecksum = pulumi.unsecret(this.adminVerifier.apply((v) => createHash("sha256").update(v).digest("hex")));

        this.files = {
            "postgresql.conf": renderPostgresqlConf(spec.memoryLimitBytes, instanceSettings(spec)),
            "pg_hba.conf": renderPgHba(hbaRules(spec.podNetworkCidrs, spec.replication)),
        };
        this.configChecksum = configChecksum(this.files);
        const config = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            { metadata: { name: `${spec.name}-config`, namespace: args.namespace, labels }, data: this.files },
            { parent: this },
        );

        // The metrics exporter's credentials: its own role (pg_monitor, nothing more), never the superuser.
        let exporter: k8s.types.input.core.v1.Container[] = [];
        const exporterVolumes: k8s.types.input.core.v1.Volume[] = [];
        if (args.monitoring.enabled) {
            this.monitorPassword = new random.RandomPassword(
                `${name}-monitor-password`,
                { length: 32, special: false },
                { parent: this },
            ).result;
            const monitorSecret = new k8s.core.v1.Secret(
                `${name}-monitor-credentials`,
                {
                    metadata: { name: `${spec.name}-monitor-credentials`, namespace: args.namespace, labels },
                    type: "Opaque",
                    stringData: { username: MONITOR_ROLE, password: this.monitorPassword },
                },
                { parent: this },
            );
            const queries =
                args.exporterQueries === undefined
                    ? undefined
                    : new k8s.core.v1.ConfigMap(
                          `${name}-exporter-queries`,
                          {
                              metadata: { name: `${spec.name}-exporter-queries`, namespace: args.namespace, labels },
                              data: { "queries.yaml": args.exporterQueries },
                          },
                          { parent: this },
                      );
            if (queries) {
                exporterVolumes.push({ name: "exporter-queries", configMap: { name: queries.metadata.name } });
            }
            exporter = [
                {
                    name: "exporter",
                    image: args.monitoring.exporterImage,
                    // Over loopback with SCRAM, as the monitoring role; it retries until the role exists.
                    env: [
                        { name: "DATA_SOURCE_URI", value: `127.0.0.1:${spec.port}/postgres?sslmode=disable` },
                        { name: "DATA_SOURCE_USER", valueFrom: { secretKeyRef: { name: monitorSecret.metadata.name, key: "username" } } },
                        { name: "DATA_SOURCE_PASS", valueFrom: { secretKeyRef: { name: monitorSecret.metadata.name, key: "password" } } },
                        ...(queries ? [{ name: "PG_EXPORTER_EXTEND_QUERY_PATH", value: `${EXPORTER_QUERIES_DIR}/queries.yaml` }] : []),
                    ],
                    ...(queries ? { volumeMounts: [{ name: "exporter-queries", mountPath: EXPORTER_QUERIES_DIR, readOnly: true }] } : {}),
                    ports: [{ name: "metrics", containerPort: METRICS_PORT, protocol: "TCP" }],
                    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "250m", memory: "128Mi" } },
                    readinessProbe: { httpGet: { path: "/metrics", port: "metrics" }, periodSeconds: 30, timeoutSeconds: 10 },
                    securityContext: hardenedContainer(),
                },
            ];
        }

        // The pod's own identity, no API token. Like the ConfigMap and Secrets the pod mounts, it is neither
        // protected nor retained: only what holds data is (components/protection.ts).
        const serviceAccount = workloadServiceAccount(
            `${name}-service-account`,
            { namespace: args.namespace, name: spec.name, labels },
            { parent: this },
        );

        const pgIsReady = ["pg_isready", "-U", ADMIN_ROLE, "-d", "postgres"];
        this.statefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-statefulset`,
            {
                metadata: {
                    name: spec.name,
                    namespace: args.namespace,
                    labels,
                    // The policy accepts PGDATA at the mount root only on a volume adopted from the seed.
                    ...(spec.pgdataAtMountRoot ? { annotations: { [ADOPTED_VOLUME_ANNOTATION]: "true" } } : {}),
                },
                spec: {
                    serviceName: spec.name,
                    // The API server's defaults, stated: an imported StatefulSet's inputs are read from the
                    // live object, defaults included, and both fields force a replacement when they differ
                    // (policies/standard/replacement.ts), so adopting the seed's must not see them change.
                    podManagementPolicy: "OrderedReady",
                    revisionHistoryLimit: 10,
                    replicas: 1,
                    selector: { matchLabels: selector },
                    updateStrategy: { type: "RollingUpdate" },
                    // The volume outlives the StatefulSet: deleting or scaling it never deletes data.
                    persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                    template: {
                        metadata: {
                            labels,
                            annotations: {
                                [CONFIG_CHECKSUM_ANNOTATION]: this.configChecksum,
                                [ADMIN_PASSWORD_CHECKSUM_ANNOTATION]: adminChecksum,
                            },
                        },
                        spec: {
                            terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds,
                            enableServiceLinks: false,
                            ...podIdentity(serviceAccount),
                            // No fsGroup with PGDATA at the mount root (an adopted volume): the kubelet would find
                            // the root's mode 0700 without setgid and recursively make PGDATA group-writable
                            // (SetVolumeOwnership, pkg/volume/volume_linux.go), which PostgreSQL refuses to start
                            // on; the seed's files already belong to uid 999.
                            securityContext: hardenedPod(POSTGRES_UID, spec.pgdataAtMountRoot ? "none" : "onRootMismatch"),
                            // A changed adminPassword reaches an existing cluster before the server starts
                            // (render/adminPassword.ts); on an empty volume it does nothing.
                            initContainers: [
                                {
                                    name: "apply-admin-password",
                                    image: spec.image,
                                    command: ["bash", "-c", APPLY_ADMIN_PASSWORD_SCRIPT],
                                    env: [
                                        { name: "PGDATA", value: pgdata },
                                        {
                                            name: "HANZO_ADMIN_VERIFIER",
                                            valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: ADMIN_VERIFIER_KEY } },
                                        },
                                        { name: "PG_CONFIG_FILE", value: `${CONFIG_DIR}/postgresql.conf` },
                                        { name: "PG_HBA_FILE", value: `${CONFIG_DIR}/pg_hba.conf` },
                                    ],
                                    resources: {
                                        requests: { cpu: spec.cpuRequest, memory: spec.memoryRequest },
                                        limits: { cpu: spec.cpuLimit, memory: spec.memoryLimit },
                                    },
                                    securityContext: hardenedContainer(),
                                    volumeMounts: [
                                        { name: "postgres-data", mountPath: DATA_MOUNT },
                                        { name: "config", mountPath: CONFIG_DIR, readOnly: true },
                                        { name: "dshm", mountPath: "/dev/shm" },
                                        { name: "tmp", mountPath: "/tmp" },
                                    ],
                                },
                            ],
                            containers: [
                                {
                                    name: "postgres",
                                    image: spec.image,
                                    args: [
                                        "postgres",
                                        "-c",
                                        `config_file=${CONFIG_DIR}/postgresql.conf`,
                                        "-c",
                                        `hba_file=${CONFIG_DIR}/pg_hba.conf`,
                                    ],
                                    ports: [{ name: "postgresql", containerPort: spec.port, protocol: "TCP" }],
                                    env: [
                                        {
                                            name: "POSTGRES_USER",
                                            valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: "username" } },
                                        },
                                        {
                                            name: "POSTGRES_PASSWORD",
                                            valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: "password" } },
                                        },
                                        { name: "POSTGRES_DB", value: "postgres" },
                                        { name: "PGDATA", value: pgdata },
                                        {
                                            name: "POSTGRES_INITDB_ARGS",
                                            value: "--data-checksums --encoding=UTF8 --auth-local=trust --auth-host=scram-sha-256",
                                        },
                                    ],
                                    resources: {
                                        requests: { cpu: spec.cpuRequest, memory: spec.memoryRequest },
                                        limits: { cpu: spec.cpuLimit, memory: spec.memoryLimit },
                                    },
                                    // Liveness only starts once the server has come up, however long crash
                                    // recovery takes (up to an hour here); STANDARD defect 5.
                                    startupProbe: { exec: { command: pgIsReady }, ...STARTUP_PROBE },
                                    livenessProbe: {
                                        exec: { command: pgIsReady },
                                        periodSeconds: 10,
                                        timeoutSeconds: 5,
                                        failureThreshold: 6,
                                    },
                                    readinessProbe: {
                                        exec: { command: [...pgIsReady, "-h", "127.0.0.1"] },
                                        periodSeconds: 5,
                                        timeoutSeconds: 3,
                                        failureThreshold: 3,
                                    },
                                    // No preStop hook: the image's STOPSIGNAL is SIGINT, PostgreSQL's fast shutdown
                                    // (clients disconnected, a shutdown checkpoint), and the grace period leaves it
                                    // time (defect 11). A hook that waits for PID 1 to exit is killed with it
                                    // (exit 137, FailedPreStopHook on every stop; defect 17).
                                    securityContext: hardenedContainer(),
                                    volumeMounts: [
                                        { name: DATA_CLAIM_TEMPLATE, mountPath: DATA_MOUNT },
                                        { name: "config", mountPath: CONFIG_DIR, readOnly: true },
                                        { name: "dshm", mountPath: "/dev/shm" },
                                        { name: "run", mountPath: "/var/run/postgresql" },
                                        { name: "tmp", mountPath: "/tmp" },
                                    ],
                                },
                                ...exporter,
                            ],
                            volumes: [
                                { name: "config", configMap: { name: config.metadata.name } },
                                // Parallel queries and index builds use /dev/shm; 64MB is not enough (defect 6).
                                {
                                    name: "dshm",
                                    emptyDir: { medium: "Memory", sizeLimit: formatBytes(shmSizeBytes(spec.memoryLimitBytes)) },
                                },
                                { name: "run", emptyDir: {} },
                                { name: "tmp", emptyDir: {} },
                                ...exporterVolumes,
                            ],
                        },
                    },
                    volumeClaimTemplates: [
                        {
                            metadata: { name: DATA_CLAIM_TEMPLATE, labels },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                storageClassName: spec.storageClass,
                                resources: { requests: { storage: spec.storageSize } },
                            },
                        },
                    ],
                },
            },
            {
                parent: this,
                ...dataProtection(args.protectData),
                ...adopted(spec.name),
                // The claim template only shapes claims made later; the claim grows through the patch below.
                ...replacementOptions(TYPES.statefulSet),
                customTimeouts: { create: ROLLOUT_TIMEOUT, update: ROLLOUT_TIMEOUT },
            },
        );

        // The disk grows in place: Kubernetes expands a bound claim whose request grows (when its class
        // allows expansion); the template only shapes claims made later. The patch is server-side apply
        // with force, since the StatefulSet controller created the claim; it never shrinks (stacks/ refuses
        // that first) and is retained on delete, so removing it gives up the field without touching the disk.
        new k8s.core.v1.PersistentVolumeClaimPatch(
            `${name}-data-claim`,
            {
                metadata: {
                    name: `${DATA_CLAIM_TEMPLATE}-${spec.name}-0`,
                    namespace: args.namespace,
                    annotations: { "pulumi.com/patchForce": "true" },
                },
                spec: { resources: { requests: { storage: spec.storageSize } } },
            },
            { parent: this, dependsOn: [this.statefulSet], retainOnDelete: true },
        );

        this.service = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: spec.name, namespace: args.namespace, labels },
                spec: {
                    clusterIP: "None",
                    selector,
                    ports: [{ name: "postgresql", port: spec.port, targetPort: "postgresql", protocol: "TCP" }],
                },
            },
            { parent: this, ...adopted(spec.name) },
        );

        // Only pods of the server's namespace (and of namespaces that host a declared service) reach 5432.
        const peers: k8s.types.input.networking.v1.NetworkPolicyPeer[] = [
            { podSelector: {} },
            ...args.clientNamespaces.map((ns) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } })),
        ];
        // ...and only the monitoring namespace reaches the exporter.
        const metricsRule = args.monitoring.enabled
            ? [
                  {
                      from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": args.monitoring.namespace } } }],
                      ports: [{ protocol: "TCP", port: METRICS_PORT }],
                  },
              ]
            : [];
        new k8s.networking.v1.NetworkPolicy(
            `${name}-network-policy`,
            {
                metadata: { name: `${spec.name}-network-policy`, namespace: args.namespace, labels },
                spec: {
                    podSelector: { matchLabels: selector },
                    policyTypes: ["Ingress"],
                    ingress: [{ from: peers, ports: [{ protocol: "TCP", port: spec.port }] }, ...metricsRule],
                },
            },
            { parent: this, ...adopted(`${spec.name}-network-policy`) },
        );

        // Out of the pod (the exporter sidecar included, it scrapes over loopback): name resolution only. No
        // replication is configured (one replica, STANDARD §12 phase 2), so no rule to a peer or a replica.
        egressPolicy(
            `${name}-egress`,
            { namespace: args.namespace, name: `${spec.name}-egress`, labels, podSelector: selector, egress: [dnsEgress()] },
            { parent: this },
        );

        this.registerOutputs({
            adminSecretName: this.adminSecretName,
            statefulSetName: this.statefulSet.metadata.name,
            serviceName: this.service.metadata.name,
            configChecksum: this.configChecksum,
        });
    }
}
