/**
 * The typed stack spec: everything a stack's configuration says, validated and with defaults applied.
 * Components receive parts of it and never read configuration themselves.
 */
import type { Environment } from "./rules";

/** How a service reads its connection settings (STANDARD §5); every shape also gets DATABASE_URL and DB_*. */
export const CONNECTION_SHAPES = ["url", "beego", "infisical", "krakend"] as const;
export type ConnectionShape = (typeof CONNECTION_SHAPES)[number];

/** Where the Kubernetes provider comes from. */
export type ClusterSpec =
    /** A DigitalOcean Kubernetes cluster, looked up by name on every run (its kubeconfig token rotates). */
    | { readonly kind: "doks"; readonly name: string }
    /** A cluster from the local kubeconfig, by context name (the dev stack's local cluster). */
    | { readonly kind: "kubeconfig"; readonly context: string };

export interface ServiceSpec {
    /** Service name, `[a-z][a-z0-9_]*`. */
    readonly name: string;
    /** Database name: `<service>`, `<service>_<env>` or a listed legacy name; `<service>_test` in test. */
    readonly database: string;
    /** Login role: `<database>_user`. */
    readonly role: string;
    /** Namespace of the service's connection Secret. */
    readonly namespace: string;
    /** Name of the service's connection Secret (`<service>-database`, hyphenated). */
    readonly secretName: string;
    /** Extra key the connection Secret carries for this service's client. */
    readonly connection: ConnectionShape;
    /** Extensions created in the database: the standard's four, then any extra ones, without duplicates. */
    readonly extensions: readonly string[];
    /** Tables the live verifier expects once the service has migrated (ADR-60 validation). */
    readonly requiredTables: readonly string[];
    /** Connection limit of the service's role; -1 means none. */
    readonly connectionLimit: number;
}

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

export interface BackupSpec {
    /** CronJob schedule of the dumps. */
    readonly schedule: string;
}

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
    readonly instance: InstanceSpec;
    readonly admin: AdminSpec;
    readonly legacyDatabases: readonly string[];
    readonly services: readonly ServiceSpec[];
    readonly backup: BackupSpec;
}
