/**
 * The seed's running deployment (HIP-29, /work/shared seeds 000: the StatefulSet, Service, NetworkPolicy and
 * Secret `postgres-credentials` in `hanzo`; each service's `<db>_user` role and database) as each provider's
 * Read returns it when the program imports it: the engine-step model's "before" for an adoption.
 *
 * - Kubernetes objects: `kubeProvider.Read` (pulumi-kubernetes provider/pkg/provider/provider.go) takes an
 *   imported object's inputs from the live object (every top-level input property, minus uid,
 *   resourceVersion, managedFields, ...), so the fields the API server defaults (apps/v1 `podManagementPolicy`,
 *   `revisionHistoryLimit`, a Service's `type`, `sessionAffinity`, ...) are there, and a Secret's values are
 *   in `data`, base64-encoded.
 * - Roles and databases: `resourcePostgreSQLRoleRead` and `resourcePostgreSQLDatabaseReadImpl`
 *   (cyrilgdn/terraform-provider-postgresql): the catalog's values; a database's `template` is "template0"
 *   when unknown (as after an import). The seed created its databases as the superuser (`hanzo` owns them).
 */
import type { LiveObject } from "../../cli/plan/steps";
import { TYPES } from "../../policies/standard/types";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const NS = "hanzo";

/** `clusterIP`: the seed's Service is headless ("None"); a cluster that applied it without that line has an address. */
export function seedLiveObjects(adminPassword: string, services: readonly string[], clusterIP = "None"): LiveObject[] {
    const labels = { app: "postgres" };
    return [
        {
            type: TYPES.statefulSet,
            id: `${NS}/postgres`,
            inputs: {
                apiVersion: "apps/v1",
                kind: "StatefulSet",
                metadata: { name: "postgres", namespace: NS },
                spec: {
                    persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                    podManagementPolicy: "OrderedReady",
                    replicas: 1,
                    revisionHistoryLimit: 10,
                    selector: { matchLabels: labels },
                    serviceName: "postgres",
                    template: {
                        metadata: { labels },
                        spec: {
                            containers: [
                                {
                                    name: "postgres",
                                    image: "ghcr.io/hanzoai/sql:latest",
                                    imagePullPolicy: "Always",
                                    ports: [{ containerPort: 5432, protocol: "TCP" }],
                                    env: [
                                        {
                                            name: "POSTGRES_USER",
                                            valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "username" } },
                                        },
                                        {
                                            name: "POSTGRES_PASSWORD",
                                            valueFrom: { secretKeyRef: { name: "postgres-credentials", key: "password" } },
                                        },
                                    ],
                                    volumeMounts: [{ name: "postgres-data", mountPath: "/var/lib/postgresql/data" }],
                                    resources: { requests: { memory: "1Gi", cpu: "500m" }, limits: { memory: "2Gi", cpu: "2" } },
                                    terminationMessagePath: "/dev/termination-log",
                                    terminationMessagePolicy: "File",
                                },
                            ],
                            dnsPolicy: "ClusterFirst",
                            restartPolicy: "Always",
                            schedulerName: "default-scheduler",
                            securityContext: {},
                            terminationGracePeriodSeconds: 30,
                        },
                    },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
                    volumeClaimTemplates: [
                        {
                            apiVersion: "v1",
                            kind: "PersistentVolumeClaim",
                            metadata: { name: "postgres-data" },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                storageClassName: "do-block-storage",
                                resources: { requests: { storage: "50Gi" } },
                                volumeMode: "Filesystem",
                            },
                        },
                    ],
                },
            },
        },
        {
            type: TYPES.service,
            id: `${NS}/postgres`,
            inputs: {
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "postgres", namespace: NS },
                spec: {
                    clusterIP,
                    clusterIPs: [clusterIP],
                    internalTrafficPolicy: "Cluster",
                    ipFamilies: ["IPv4"],
                    ipFamilyPolicy: "SingleStack",
                    ports: [{ port: 5432, protocol: "TCP", targetPort: 5432 }],
                    selector: labels,
                    sessionAffinity: "None",
                    type: "ClusterIP",
                },
            },
        },
        {
            type: TYPES.networkPolicy,
            id: `${NS}/postgres-network-policy`,
            inputs: {
                apiVersion: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata: { name: "postgres-network-policy", namespace: NS },
                spec: {
                    podSelector: { matchLabels: labels },
                    policyTypes: ["Ingress"],
                    ingress: [{ from: [{ namespaceSelector: { matchLabels: { name: NS } } }], ports: [{ protocol: "TCP", port: 5432 }] }],
                },
            },
        },
        {
            type: TYPES.secret,
            id: `${NS}/postgres-credentials`,
            inputs: {
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: "postgres-credentials", namespace: NS },
                type: "Opaque",
                data: { username: b64("hanzo"), password: b64(adminPassword) },
            },
        },
        ...services.flatMap((s): LiveObject[] => [
            {
                type: TYPES.role,
                id: `${s}_user`,
                inputs: {
                    name: `${s}_user`,
                    login: true,
                    superuser: false,
                    createDatabase: false,
                    createRole: false,
                    inherit: true,
                    replication: false,
                    bypassRowLevelSecurity: false,
                    connectionLimit: -1,
                    encryptedPassword: true,
                    validUntil: "infinity",
                    roles: [],
                    searchPaths: [],
                    statementTimeout: 0,
                    idleInTransactionSessionTimeout: 0,
                },
            },
            {
                type: TYPES.database,
                id: s,
                inputs: {
                    name: s,
                    owner: "hanzo",
                    template: "template0",
                    encoding: "UTF8",
                    lcCollate: "en_US.utf8",
                    lcCtype: "en_US.utf8",
                    tablespaceName: "pg_default",
                    connectionLimit: -1,
                    allowConnections: true,
                    isTemplate: false,
                },
            },
        ]),
    ];
}
