import * as k8s from "@pulumi/kubernetes";
import { ADMIN_INIT_FILE, ADMIN_INIT_SQL } from "../render/privilegedSession";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "crypto";
import { hbaRules } from "../policies/standard/pgHba";
import { renderPgHba } from "../render/pgHba";
import { renderPostgresqlConf } from "../render/postgresqlConf";
import { ADMIN_ROLE, ADMIN_VERIFIER_KEY, MONITOR_ROLE } from "../policies/standard/rules";
import { instanceSettings } from "./serverSettings";
import { METRICS_PORT } from "../policies/standard/ports";
import { replacementOptions } from "../policies/standard/replacement";
import { TYPES } from "../policies/standard/types";
import type { InstanceSpec, MonitoringSpec } from "../stacks/spec";
import { configChecksum } from "../render/checksum";
import { dnsEgress } from "../render/egress";
import { labels as objectLabels } from "../render/labels";
import {
    ArchiveInput,
    DATA_CLAIM_TEMPLATE,
    ExporterInput,
    STARTUP_PROBE,
    ServerStatefulSetInput,
    serverStatefulSet,
    serverStatefulSetMetadata,
} from "../render/pods/server";
import { egressPolicy, workloadServiceAccount } from "./hardening";
import { ADOPTED_SERVICE_IGNORE, adoptedObject, adoptionAnnotations } from "./adoption";
import { dataProtection } from "./protection";
import { scramSecret } from "./roles";
import { stateInputs } from "./stateInputs";
import { PGPASS_KEY, replicationScripts, roleLabel } from "../render/pods/standby";
import type { BootstrapInput } from "../render/pods/bootstrap";
import { READ_SERVICE, REPLICATION_SECRET } from "../policies/standard/replication";
import { pgpassAnyHost } from "../render/connection";

/**
 * How long `pulumi up` waits for the StatefulSet's rollout: the startup probe's whole window plus 15 minutes
 * for scheduling, volume attachment, the image pull and the readiness probe. pulumi-kubernetes awaits a
 * StatefulSet for 10 minutes by default (`DefaultStatefulSetTimeoutMins`, provider/pkg/await/statefulset.go),
 * and a resource's customTimeouts take precedence over everything else (`metadata.TimeoutDuration`,
 * provider/pkg/metadata/overrides.go), so a slow recovery neither fails `up` nor leaves it waiting forever.
 */
export const ROLLOUT_TIMEOUT = `${Math.ceil((STARTUP_PROBE.periodSeconds * STARTUP_PROBE.failureThreshold) / 60) + 15}m`;

// The server's pod is built by render/pods/server.ts; its constants are re-exported for the component's users.
export {
    ADMIN_PASSWORD_CHECKSUM_ANNOTATION,
    EXPORTER_QUERIES_CHECKSUM_ANNOTATION,
    ADOPTED_PGDATA,
    CONFIG_DIR,
    DATA_CLAIM_TEMPLATE,
    DATA_MOUNT,
    PGDATA,
    POSTGRES_UID,
    STARTUP_PROBE,
} from "../render/pods/server";
export { CONFIG_CHECKSUM_ANNOTATION, configChecksum } from "../render/checksum";
/** The exporter's port (postgres_exporter's default), named `metrics` on the pod. */
export { METRICS_PORT };

/** An adopted object's metadata also carries the adoption's annotations (components/adoption.ts). */
function withAdoption(metadata: k8s.types.input.meta.v1.ObjectMeta, adopt: boolean): k8s.types.input.meta.v1.ObjectMeta {
    // serverStatefulSetMetadata's annotations are plain strings (render/pods/server.ts).
    const annotations = metadata.annotations as Record<string, string> | undefined;
    return adopt ? { ...metadata, annotations: { ...annotations, ...adoptionAnnotations(true) } } : metadata;
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
    /** Continuous archiving's objects the pod mounts (components/pitr.ts archiveInput), when pitrEnabled. */
    readonly archive?: ArchiveInput;
    /** The restore step from another stack's archive (components/bootstrap.ts), when pitrBootstrapFrom. */
    readonly bootstrap?: BootstrapInput;
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
    /** The primary's StatefulSet as built (render/pods/server.ts): the standbys' is the same with another role. */
    public readonly server: ServerStatefulSetInput;

    constructor(name: string, args: PostgresInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.postgresInstance, name, stateInputs(args), opts);
        const spec = args.instance;
        if (args.adopt && args.adminPassword === undefined) {
            throw new pulumi.ResourceError(
                `PostgresInstance ${name}: adopting a running server needs its superuser's password (adminPassword); a generated one would lock the program out`,
                this,
            );
        }
        const labels = objectLabels({ app: spec.name, name: "postgresql", instance: spec.name });
        const selector = { app: spec.name };
        // Standbys (docs/standbys.md): every server pod carries a role label, `postgres` selects the primary's.
        const replicated = spec.replication.standbys > 0;
        /** Adopts the running object of that name; once it is in the stack's state the option does nothing. */
        const adopted = (objectName: string, ignoreChanges: readonly string[] = []): pulumi.CustomResourceOptions =>
            adoptedObject(args.adopt, `${args.namespaceName}/${objectName}`, ignoreChanges);
        const adoptedMetadata = args.adopt ? { annotations: adoptionAnnotations(true) } : {};

        this.adminPassword = pulumi.secret(
            args.adminPassword ??
                new random.RandomPassword(`${name}-admin-password`, { length: 32, special: false }, { parent: this }).result,
        );
        this.adminVerifier = scramSecret(`${name}-admin-password-salt`, this.adminPassword, 1, { parent: this });
        const adminSecret = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: { name: `${spec.name}-credentials`, namespace: args.namespace, labels, ...adoptedMetadata },
                type: "Opaque",
                stringData: {
                    username: ADMIN_ROLE,
                    password: this.adminPassword,
                    [ADMIN_VERIFIER_KEY]: this.adminVerifier,
                    // pg_rewind's line, for a former primary's rejoin (render/scripts/replica-start.sh).
                    ...(replicated ? { [PGPASS_KEY]: this.adminPassword.apply((p) => pgpassAnyHost("postgres", ADMIN_ROLE, p)) } : {}),
                },
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
            // Run by the entrypoint after initdb on a new volume (render/privilegedSession.ts, issue 21).
            [ADMIN_INIT_FILE]: ADMIN_INIT_SQL,
            // The start script and the role-checking readiness probe of every server pod (render/pods/standby.ts).
            ...(replicated ? replicationScripts() : {}),
        };
        this.configChecksum = configChecksum(this.files);
        const config = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            { metadata: { name: `${spec.name}-config`, namespace: args.namespace, labels }, data: this.files },
            { parent: this },
        );

        // The metrics exporter's credentials: its own role (pg_monitor, nothing more), never the superuser.
        let exporter: ExporterInput | undefined;
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
            exporter = {
                image: args.monitoring.exporterImage,
                credentialsSecret: monitorSecret.metadata.name,
                ...(queries
                    ? {
                          queriesConfigMap: queries.metadata.name,
                          queriesChecksum: configChecksum({ "queries.yaml": args.exporterQueries! }),
                      }
                    : {}),
            };
        }

        // The pod's own identity, no API token. Like the ConfigMap and Secrets the pod mounts, it is neither
        // protected nor retained: only what holds data is (components/protection.ts).
        const serviceAccount = workloadServiceAccount(
            `${name}-service-account`,
            { namespace: args.namespace, name: spec.name, labels },
            { parent: this },
        );

        // The pod and the StatefulSet's spec are built by render/pods/server.ts; this wires them to the objects above.
        const server: ServerStatefulSetInput = {
            name: spec.name,
            labels,
            selector,
            claim: { storageClass: spec.storageClass, storageSize: spec.storageSize },
            pod: {
                role: "primary",
                // The template's label only: the StatefulSet's own labels, selector and claim template stay.
                labels: { ...labels, ...roleLabel("primary") },
                configChecksum: this.configChecksum,
                adminPasswordChecksum: adminChecksum,
                image: spec.image,
                port: spec.port,
                resources: {
                    cpuRequest: spec.cpuRequest,
                    memoryRequest: spec.memoryRequest,
                    cpuLimit: spec.cpuLimit,
                    memoryLimit: spec.memoryLimit,
                },
                memoryLimitBytes: spec.memoryLimitBytes,
                terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds,
                pgdataAtMountRoot: spec.pgdataAtMountRoot,
                serviceAccountName: serviceAccount.metadata.name,
                adminSecret: adminSecret.metadata.name,
                configMap: config.metadata.name,
                ...(exporter ? { exporter } : {}),
                ...(args.archive ? { archive: args.archive } : {}),
                ...(args.bootstrap ? { bootstrap: args.bootstrap } : {}),
                ...(replicated
                    ? {
                          replication: {
                              primaryHost: spec.host,
                              standbysHost: `${READ_SERVICE}.${args.namespaceName}.svc`,
                              standbys: spec.replication.standbys,
                              replicationSecret: REPLICATION_SECRET,
                          },
                      }
                    : {}),
            },
        };
        this.server = server;
        this.statefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-statefulset`,
            { metadata: withAdoption(serverStatefulSetMetadata(server, args.namespace), args.adopt), spec: serverStatefulSet(server) },
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
                metadata: { name: spec.name, namespace: args.namespace, labels, ...adoptedMetadata },
                spec: {
                    clusterIP: "None",
                    selector: { ...selector, ...roleLabel("primary") },
                    ports: [{ name: "postgresql", port: spec.port, targetPort: "postgresql", protocol: "TCP" }],
                },
            },
            // After the StatefulSet's rollout: its pod carries the role label before the selector asks for it.
            { parent: this, dependsOn: [this.statefulSet], ...adopted(spec.name, ADOPTED_SERVICE_IGNORE) },
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
                metadata: { name: `${spec.name}-network-policy`, namespace: args.namespace, labels, ...adoptedMetadata },
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
