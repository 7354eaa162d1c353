/**
 * Pulumi type tokens of every resource the standard speaks of, written once: the policies find resources by
 * them, the plan and pod tools and init-sql read plans by them, the program takes its data-holders' options by
 * them, and the tests build and mutate plans with them. Imports nothing.
 */

/** The project's name: Pulumi.yaml's `name` (so its configuration namespace), the pack's name, the part-of label. */
export const PROJECT = "hanzo-sql";

/**
 * The engine's marker for a value not known yet (a preview): `plugin.UnknownStringValue` in pulumi/pulumi, which
 * the engine sends for every unknown, whatever its type (the Node SDK's `runtime.unknownValue`). The pack reads
 * it in what the engine sends; the offline plan writes it where the engine would.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const TYPES = {
    hanzoSql: `${PROJECT}:index:HanzoSql`,
    /** The program's components whose children the pack recognises by their parent (the URN's type chain). */
    postgresInstance: `${PROJECT}:index:PostgresInstance`,
    postgresBackups: `${PROJECT}:index:PostgresBackups`,
    /** Point-in-time recovery's base backups, certificates and configuration (components/pitr.ts). */
    postgresArchive: `${PROJECT}:index:PostgresArchive`,
    /** The standbys' StatefulSet's parent (components/standbys.ts): a server the program builds, too. */
    postgresStandbys: `${PROJECT}:index:PostgresStandbys`,
    // PostgreSQL (@pulumi/postgresql)
    database: "postgresql:index/database:Database",
    role: "postgresql:index/role:Role",
    grant: "postgresql:index/grant:Grant",
    grantRole: "postgresql:index/grantRole:GrantRole",
    defaultPrivileges: "postgresql:index/defaultPrivileges:DefaultPrivileges",
    /** The same resource under its deprecated token (@pulumi/postgresql's DefaultPrivileg). */
    defaultPrivileg: "postgresql:index/defaultPrivileg:DefaultPrivileg",
    extension: "postgresql:index/extension:Extension",
    schema: "postgresql:index/schema:Schema",
    pgProvider: "pulumi:providers:postgresql",
    // Kubernetes (@pulumi/kubernetes)
    k8sProvider: "pulumi:providers:kubernetes",
    namespace: "kubernetes:core/v1:Namespace",
    service: "kubernetes:core/v1:Service",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    secret: "kubernetes:core/v1:Secret",
    configMap: "kubernetes:core/v1:ConfigMap",
    serviceAccount: "kubernetes:core/v1:ServiceAccount",
    pod: "kubernetes:core/v1:Pod",
    pvcPatch: "kubernetes:core/v1:PersistentVolumeClaimPatch",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    deployment: "kubernetes:apps/v1:Deployment",
    daemonSet: "kubernetes:apps/v1:DaemonSet",
    replicaSet: "kubernetes:apps/v1:ReplicaSet",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    // KMS sync resources: Hanzo's KMSSecret (new and old group), upstream Infisical's InfisicalSecret, the seed's pair.
    kmsSecret: "kubernetes:kms.hanzo.ai/v1:KMSSecret",
    luxKmsSecret: "kubernetes:secrets.lux.network/v1alpha1:KMSSecret",
    infisicalSecret: "kubernetes:secrets.infisical.com/v1alpha1:InfisicalSecret",
    seedKmsSecret: "kubernetes:secrets.infisical.com/v1alpha1:KMSSecret",
    // Random, DigitalOcean
    password: "random:index/randomPassword:RandomPassword",
    randomId: "random:index/randomId:RandomId",
    spacesKey: "digitalocean:index/spacesKey:SpacesKey",
    spacesBucket: "digitalocean:index/spacesBucket:SpacesBucket",
} as const;

/** Provider functions the program invokes. */
export const FUNCTIONS = {
    /** DOKS: the cluster looked up by name on every run (its kubeconfig token rotates). */
    getKubernetesCluster: "digitalocean:index/getKubernetesCluster:getKubernetesCluster",
} as const;

/** Workload kinds: resources with a pod template. */
export const WORKLOAD_TYPES = [
    TYPES.deployment,
    TYPES.statefulSet,
    TYPES.daemonSet,
    TYPES.replicaSet,
    TYPES.job,
    TYPES.cronJob,
    TYPES.pod,
] as const;

/** KMS sync resources (STANDARD defect 14). */
export const KMS_SYNC_TYPES: readonly string[] = [TYPES.kmsSecret, TYPES.luxKmsSecret, TYPES.infisicalSecret, TYPES.seedKmsSecret];
