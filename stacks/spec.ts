/**
 * The typed stack spec: everything a stack's configuration says, validated and with defaults applied.
 * Components receive parts of it and never read configuration themselves.
 */
import type { Environment } from "../policies/standard/rules";
import type { VectorSettings } from "../policies/standard/settings";
import type { ReplicationSpec } from "../policies/standard/replication";
import type { PitrSpec } from "../render/pitr";
import type { BootstrapSpec } from "./pitrBootstrap";
import type { ResolvedService } from "./services";

/** Where the Kubernetes provider comes from. */
export type ClusterSpec =
    /** A DigitalOcean Kubernetes cluster, looked up by name on every run (its kubeconfig token rotates). */
    | { readonly kind: "doks"; readonly name: string }
    /** A cluster from the local kubeconfig, by context name (the dev stack's local cluster). */
    | { readonly kind: "kubeconfig"; readonly context: string };

/** A service with every default applied: its fields are the schema's (stacks/schema.ts), plus its role and Secret. */
export type ServiceSpec = ResolvedService;

export interface InstanceSpec {
    /** Name of the StatefulSet, its Service and the prefix of its other objects. */
    readonly name: string;
    /** In-cluster host name services connect to: `<name>.<namespace>.svc`. */
    readonly host: string;
    readonly port: number;
    /** Server image, pinned by tag or digest (never `latest`). */
    readonly image: string;
    readonly storageSize: string;
    readonly storageClass: string;
    /** The claim's current size, when the stack records it: storageSize may not be smaller. */
    readonly storageSizeApplied?: string;
    /** PGDATA is the volume's mount root (an adopted seed volume) instead of its `pgdata` subdirectory. */
    readonly pgdataAtMountRoot: boolean;
    readonly cpuRequest: string;
    readonly cpuLimit: string;
    readonly memoryRequest: string;
    readonly memoryLimit: string;
    /** memoryLimit in bytes; postgresql.conf's memory settings are derived from it. */
    readonly memoryLimitBytes: number;
    /** Networks pg_hba.conf admits with a password (the pod network). */
    readonly podNetworkCidrs: readonly string[];
    /** Seconds Kubernetes waits for the shutdown checkpoint before killing the server. */
    readonly terminationGracePeriodSeconds: number;
    /** Streaming standbys and how many of them a commit waits for (docs/standbys.md). */
    readonly replication: ReplicationSpec;
    /** pgvector's query settings rendered in postgresql.conf (hnsw.iterative_scan, hnsw.ef_search, …). */
    readonly vector: VectorSettings;
    /** Continuous WAL archiving (pitrEnabled): what render/pitr.ts renders into postgresql.conf and pgbackrest.conf. */
    readonly archive?: PitrSpec;
}

export interface AdminSpec {
    /** Where `pulumi up` reaches the server as `hanzo` (a port-forward, or the Service from inside the cluster). */
    readonly host: string;
    readonly port: number;
    /** libpq sslmode of the admin connection; set explicitly because the provider defaults to `require`. */
    readonly sslmode: string;
    /** Superuser password from the `adminPassword` config secret; generated when absent. */
    readonly password?: string;
}

/** A feature's settings when it is on. */
export type On<T extends { readonly enabled: boolean }> = Extract<T, { readonly enabled: true }>;

/** Where the dumps go: a Spaces bucket the program creates, or an S3 API of your own with its keys. */
export type BackupStore =
    | { readonly kind: "spaces"; /** DigitalOcean Spaces region of the bucket. */ readonly region: string }
    | {
          readonly kind: "s3";
          /** An S3-compatible endpoint (MinIO); no bucket is created. */ readonly endpoint: string;
          readonly accessKeyId: string;
          readonly secretAccessKey: string;
      };

/** The backup CronJob, its role, bucket and credentials, when backups are on. */
export type BackupSpec =
    | { readonly enabled: false }
    | {
          readonly enabled: true;
          /** CronJob schedule of the dumps. */
          readonly schedule: string;
          /** Days a dump is kept unless its service says otherwise; the newest complete backup is always kept. */
          readonly retentionDays: number;
          /** Bucket of the dumps. */
          readonly bucket: string;
          /** Key prefix inside the bucket: `<prefix>/<timestamp>/<database>.dump` and `manifest.json`. */
          readonly prefix: string;
          readonly store: BackupStore;
          /** Image with the PostgreSQL 16 client tools (dump); pinned. */
          readonly dumpImage: string;
          /** Image with the AWS CLI (upload and pruning); pinned. */
          readonly s3Image: string;
          /** The scheduled restore drill (on by default in prod): latest complete backup → scratch server → ADR-60 checks. */
          readonly drill: { readonly enabled: true; readonly schedule: string } | { readonly enabled: false };
      };

/** The exporter sidecar, its role, the PodMonitor and the PrometheusRules (prometheus-operator CRDs), when on. */
export type MonitoringSpec =
    | { readonly enabled: false }
    | {
          readonly enabled: true;
          /** Namespace of Prometheus: the only one admitted to the metrics port. */
          readonly namespace: string;
          /** Value of the `release` label prometheus-operator selects monitors and rules by. */
          readonly release: string;
          /** postgres_exporter image, pinned (its metric names are the ones the alerts use). */
          readonly exporterImage: string;
      };

/** A PgBouncer Deployment and Service in front of the server, when on. */
export type PoolingSpec =
    | { readonly enabled: false }
    | {
          readonly enabled: true;
          readonly maxClientConn: number;
          readonly defaultPoolSize: number;
          readonly image: string;
          readonly replicas: number;
      };

/** KMS sync resources for the services that ask for it, when on. */
export type KmsSpec =
    | { readonly enabled: false }
    | {
          readonly enabled: true;
          /** API version of the sync resource: `kms.hanzo.ai/v1` (Hanzo's operator), `secrets.lux.network/v1alpha1`, `secrets.infisical.com/v1alpha1`. */
          readonly apiVersion: string;
          /** Its kind: `KMSSecret` (Hanzo's operator) or `InfisicalSecret` (upstream Infisical). */
          readonly kind: string;
          /** The KMS project (Hanzo: the org) the secrets live in; "" when no service syncs. */
          readonly projectSlug: string;
          /** Seconds between the operator's syncs. */
          readonly resyncInterval: number;
          /** The KMS API (Infisical). */
          readonly hostAPI: string;
          /** The KMS environment the secrets live in (e.g. prod). */
          readonly envSlug: string;
          /** Kubernetes Secret holding the KMS universal-auth credentials. */
          readonly credentialsSecret: string;
      };

export interface StackSpec {
    readonly stack: string;
    readonly environment: Environment;
    /** True in the test environment: `_test` names, and data is not protected from deletion. */
    readonly isTest: boolean;
    /** True outside the test environment: Databases and the StatefulSet are protected and retained. */
    readonly protectData: boolean;
    readonly cluster: ClusterSpec;
    readonly namespace: string;
    readonly createNamespace: boolean;
    /** Adopt the seed's running deployment: existing objects are imported (IDs derived from the stack). */
    readonly adopt: boolean;
    /** Pinned version of each extension the stack creates (the image's; an image change updates them). */
    readonly extensionVersions: Readonly<Record<string, string>>;
    readonly instance: InstanceSpec;
    readonly admin: AdminSpec;
    readonly legacyDatabases: readonly string[];
    readonly services: readonly ServiceSpec[];
    readonly backup: BackupSpec;
    readonly monitoring: MonitoringSpec;
    readonly pooling: PoolingSpec;
    readonly kms: KmsSpec;
    /** Point-in-time recovery's base backups, when pitrEnabled (the archive itself is instance.archive). */
    readonly pitr?: PitrBackupsSpec;
    /** pitrBootstrapFrom: the server restored from another stack's archive, what the restore brings imported. */
    readonly bootstrap?: BootstrapSpec;
}

/** The base backups of the WAL archive (docs/pitr.md): full and differential schedules. */
export interface PitrBackupsSpec {
    readonly fullSchedule: string;
    readonly diffSchedule: string;
    /** PEM of the CA of an endpoint of your own (pitrEndpointCa), shipped in the pgbackrest ConfigMap. */
    readonly endpointCa?: string;
}
