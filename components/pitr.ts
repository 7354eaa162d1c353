import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as path from "path";
import { PITR_OBJECTS } from "../policies/standard/jobs";
import { TYPES } from "../policies/standard/types";
import { configChecksum } from "../render/checksum";
import { dnsEgress, endpointEgress, podEgress } from "../render/egress";
import { labels as objectLabels } from "../render/labels";
import type { PitrSpec } from "../render/pitr";
import {
    PGBACKREST_BACKUP_FILE,
    PGBACKREST_SERVER_FILE,
    PGBACKREST_TLS_PORT,
    backupHosts,
    renderBackupJobConf,
    renderServerPodConf,
    serverTlsNames,
} from "../render/pitrPod";
import { BucketKeys, pitrBackupCronJob } from "../render/pods/pitr";
import type { ArchiveInput } from "../render/pods/server";
import { pitrTlsMaterial } from "../render/pitrTls";
import type { PitrBackupsSpec } from "../stacks/spec";
import { egressPolicy, workloadServiceAccount } from "./hardening";
import { stateInputs } from "./stateInputs";

/** The Secret keys of the archive's bucket credentials (pgBackRest reads them as PGBACKREST_REPO1_S3_KEY…). */
const KEY_NAMES = { accessKeyIdKey: "AWS_ACCESS_KEY_ID", secretAccessKeyKey: "AWS_SECRET_ACCESS_KEY" } as const;

/**
 * What the server pod mounts for archiving (render/pods/server.ts ArchiveInput): the objects PostgresArchive
 * creates, by their names, known before it is declared (the server is declared first).
 */
export function archiveInput(): ArchiveInput {
    return { configMap: PITR_OBJECTS.config, secret: PITR_OBJECTS.credentials, ...KEY_NAMES, tlsSecret: PITR_OBJECTS.serverTls };
}

export interface PostgresArchiveArgs {
    /** Namespace of every object (the Namespace resource's name when the stack creates it). */
    readonly namespace: pulumi.Input<string>;
    /** The namespace's name, known at declaration (the server pod's DNS name, the bucket's NetworkPolicy peer). */
    readonly namespaceName: string;
    /** The archive (render/pitr.ts): the bucket, retention, WAL budget, the server pod's paths. */
    readonly archive: PitrSpec;
    /** The base backups' schedules, and the endpoint's private CA when there is one. */
    readonly backups: PitrBackupsSpec;
    /** The server image (it carries pgBackRest): the backup Jobs run it too. */
    readonly image: string;
    /** The bucket's access key (the backups' bucket). */
    readonly accessKeyId: pulumi.Input<string>;
    /** The bucket's secret key. */
    readonly secretAccessKey: pulumi.Input<string>;
    /** The server's StatefulSet (its NetworkPolicies are named after it). */
    readonly statefulSetName: string;
    /** The primary's headless Service (`postgres`, role-selected): the backups' pg1, whichever pod is primary. */
    readonly serviceName: string;
    /** The standbys' headless Service (`postgres-ro`): the backups' pg2 with standbys; in every stack's certificate. */
    readonly readServiceName: string;
    /** The stack has standbys: back up from one of them. */
    readonly fromStandby: boolean;
    /** The server pods' labels (the NetworkPolicies select them). */
    readonly serverSelector: Readonly<Record<string, string>>;
}

/**
 * Continuous archiving's objects beside the server pod (docs/pitr.md, "The pod shape"): pgbackrest.conf for
 * the server pod and for the backup Jobs (a ConfigMap), the bucket keys the server pod reads (a Secret of their
 * own: the backup role's Secret stays the dump CronJobs' alone), mutual-TLS certificates derived from a seed in
 * the state (render/x509.ts; only the leaves' keys reach Secrets), the full and differential base backup
 * CronJobs, and the NetworkPolicies: backup pods reach the server pod's TLS server port and the bucket; the
 * server pod accepts that port from them alone and reaches the bucket (archive-push).
 */
export class PostgresArchive extends pulumi.ComponentResource {
    /** The files of the ConfigMap, by key. */
    public readonly files: Readonly<Record<string, string>>;

    constructor(name: string, args: PostgresArchiveArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.postgresArchive, name, stateInputs(args), opts);
        const labels = objectLabels({ name: PITR_OBJECTS.backupIdentity });
        const meta = (n: string) => ({ name: n, namespace: args.namespace, labels });
        const hosts = backupHosts(args.serviceName, args.fromStandby ? args.readServiceName : undefined, args.namespaceName);
        const tlsNames = serverTlsNames(args.serviceName, args.readServiceName, args.namespaceName);

        this.files = {
            [PGBACKREST_SERVER_FILE]: renderServerPodConf(args.archive),
            [PGBACKREST_BACKUP_FILE]: renderBackupJobConf(args.archive, hosts),
            ...(args.backups.endpointCa !== undefined && args.archive.repo.caFile !== undefined
                ? { [path.posix.basename(args.archive.repo.caFile)]: args.backups.endpointCa }
                : {}),
        };
        const config = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            { metadata: meta(PITR_OBJECTS.config), data: this.files },
            { parent: this },
        );

        new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: meta(PITR_OBJECTS.credentials),
                type: "Opaque",
                stringData: { [KEY_NAMES.accessKeyIdKey]: args.accessKeyId, [KEY_NAMES.secretAccessKeyKey]: args.secretAccessKey },
            },
            { parent: this },
        );

        // The certificates: one seed in the state, the keys and certificates derived from it (render/x509.ts).
        const seed = new random.RandomPassword(`${name}-tls-seed`, { length: 64, special: false }, { parent: this }).result;
        const tls = seed.apply((s) => pitrTlsMaterial(s, tlsNames));
        for (const [side, secretName] of [
            ["server", PITR_OBJECTS.serverTls],
            ["client", PITR_OBJECTS.clientTls],
        ] as const) {
            new k8s.core.v1.Secret(
                `${name}-${side}-tls`,
                { metadata: meta(secretName), type: "Opaque", stringData: pulumi.secret(tls.apply((t) => t[side])) },
                { parent: this },
            );
        }

        // The base backups: full and differential CronJobs (each its own identity, one set of pod labels the
        // NetworkPolicies name), clients of the server pod's TLS server.
        const keys: BucketKeys = { secret: PITR_OBJECTS.credentials, ...KEY_NAMES };
        const input = {
            image: args.image,
            keys,
            configMap: config.metadata.name,
            configChecksum: configChecksum(this.files),
            tlsSecret: PITR_OBJECTS.clientTls,
            fromStandby: args.fromStandby,
        };
        for (const [type, cronJobName, schedule] of [
            ["full", PITR_OBJECTS.fullCronJob, args.backups.fullSchedule],
            ["diff", PITR_OBJECTS.diffCronJob, args.backups.diffSchedule],
        ] as const) {
            const serviceAccount = workloadServiceAccount(
                `${name}-${type}-service-account`,
                { namespace: args.namespace, name: cronJobName, labels },
                { parent: this },
            );
            new k8s.batch.v1.CronJob(
                `${name}-${type}`,
                {
                    metadata: meta(cronJobName),
                    spec: pitrBackupCronJob(input, { labels, serviceAccountName: serviceAccount.metadata.name, schedule }, type),
                },
                { parent: this },
            );
        }

        // Out of a backup pod: the server pod's TLS server, the bucket, name resolution.
        egressPolicy(
            `${name}-backup-egress`,
            {
                namespace: args.namespace,
                name: `${PITR_OBJECTS.backupIdentity}-egress`,
                labels,
                podSelector: labels,
                egress: [
                    podEgress(args.serverSelector, PGBACKREST_TLS_PORT),
                    endpointEgress(args.archive.repo.endpoint, args.namespaceName),
                    dnsEgress(),
                ],
            },
            { parent: this },
        );
        // Into the server pod: the TLS server's port from the backup pods alone (NetworkPolicies add up: the
        // server's own policy keeps 5432 and the metrics port as they are).
        new k8s.networking.v1.NetworkPolicy(
            `${name}-server-ingress`,
            {
                metadata: meta(`${args.statefulSetName}-pgbackrest`),
                spec: {
                    podSelector: { matchLabels: { ...args.serverSelector } },
                    policyTypes: ["Ingress"],
                    ingress: [
                        {
                            from: [{ podSelector: { matchLabels: { ...labels } } }],
                            ports: [{ protocol: "TCP", port: PGBACKREST_TLS_PORT }],
                        },
                    ],
                },
            },
            { parent: this },
        );
        // Out of the server pod: archive-push to the bucket.
        egressPolicy(
            `${name}-server-egress`,
            {
                namespace: args.namespace,
                name: `${args.statefulSetName}-archive-egress`,
                labels,
                podSelector: args.serverSelector,
                egress: [endpointEgress(args.archive.repo.endpoint, args.namespaceName)],
            },
            { parent: this },
        );
        this.registerOutputs({});
    }
}
