import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PGBOUNCER_PORT, renderPgbouncerIni, renderUserlist } from "../render/pgbouncer";
import { labels as objectLabels } from "../render/labels";
import { hardenedContainer, hardenedPod } from "../render/securityContext";
import type { On, PoolingSpec } from "../stacks/spec";
import { configChecksum } from "./postgresInstance";
import { stateInputs } from "./stateInputs";
import { dnsEgress, podEgress } from "../render/egress";
import { egressPolicy, podIdentity, workloadServiceAccount } from "./hardening";

export const POOLER_NAME = "pgbouncer";
/** uid/gid of `postgres` in the PgBouncer image (alpine's postgres user). */
export const PGBOUNCER_UID = 70;

/** The pooler's in-cluster endpoint in a namespace (services get it before the pooler exists). */
export function poolerEndpoint(namespace: string): { host: string; port: number } {
    return { host: `${POOLER_NAME}.${namespace}.svc`, port: PGBOUNCER_PORT };
}

export interface PgbouncerArgs {
    /** Namespace of every object (the Namespace resource's name when the stack creates it). */
    readonly namespace: pulumi.Input<string>;
    /** The namespace's name, known at declaration (the pooler's in-cluster host is built from it). */
    readonly namespaceName: string;
    /** Image, replicas and pool sizes from the stack spec (pooling is on). */
    readonly pooling: On<PoolingSpec>;
    /** The pooled services (at least one): database, role and the SCRAM verifier the server holds for the role (never a password). */
    readonly users: readonly { readonly database: string; readonly role: string; readonly verifier: pulumi.Input<string> }[];
    /** In-cluster host of the server the pooler connects to. */
    readonly serverHost: string;
    /** Its port. */
    readonly serverPort: number;
    /** Labels of the server's pods, the only destination besides DNS. */
    readonly serverSelector: Readonly<Record<string, string>>;
    /** Namespaces besides its own whose pods may connect (pooled services declared elsewhere). */
    readonly clientNamespaces: readonly string[];
}

/**
 * PgBouncer in front of the server (STANDARD §10): transaction pooling, SCRAM for clients with a userlist
 * of the pooled roles' SCRAM verifiers (a Secret; render/pgbouncer.ts says why no password is needed), a
 * Service `pgbouncer:6432`, and a NetworkPolicy
 * admitting the namespace. A configuration change rolls the pods. Expects a `kubernetes` provider.
 */
export class Pgbouncer extends pulumi.ComponentResource {
    /** In-cluster host and port of the pooler. */
    public readonly host: string;
    public readonly port = PGBOUNCER_PORT;

    constructor(name: string, args: PgbouncerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hanzo-sql:index:Pgbouncer", name, stateInputs(args), opts);
        const p = args.pooling;
        if (args.users.length === 0) {
            throw new pulumi.ResourceError(
                `Pgbouncer ${name}: no pooled service; a pooler without users refuses every client (mark a service pooled: true)`,
                this,
            );
        }
        const labels = objectLabels({ app: POOLER_NAME, name: "pgbouncer" });
        this.host = poolerEndpoint(args.namespaceName).host;
        const ini = renderPgbouncerIni({
            databases: args.users.map((u) => u.database),
            serverHost: args.serverHost,
            serverPort: args.serverPort,
            maxClientConn: p.maxClientConn,
            defaultPoolSize: p.defaultPoolSize,
            authFile: "/etc/pgbouncer/auth/userlist.txt",
        });
        const config = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            { metadata: { name: `${POOLER_NAME}-config`, namespace: args.namespace, labels }, data: { "pgbouncer.ini": ini } },
            { parent: this },
        );
        const userlist = pulumi
            .all(args.users.map((u) => pulumi.output(u.verifier)))
            .apply((verifiers) => renderUserlist(args.users.map((u, i) => ({ user: u.role, verifier: verifiers[i] }))));
        const secret = new k8s.core.v1.Secret(
            `${name}-userlist`,
            {
                metadata: { name: `${POOLER_NAME}-userlist`, namespace: args.namespace, labels },
                type: "Opaque",
                stringData: { "userlist.txt": pulumi.secret(userlist) },
            },
            { parent: this },
        );
        const serviceAccount = workloadServiceAccount(
            `${name}-service-account`,
            { namespace: args.namespace, name: POOLER_NAME, labels },
            { parent: this },
        );
        // Rolls the pods when a password (so its verifier) changes. A truncated hash of verifiers of random
        // 32-character passwords reveals nothing, and left secret it would mark the whole Deployment spec secret
        // (hidden from diffs and policies).
        const userlistChecksum = pulumi.unsecret(userlist.apply((u) => configChecksum({ "userlist.txt": u }).slice(0, 16)));
        new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: { name: POOLER_NAME, namespace: args.namespace, labels },
                spec: {
                    replicas: p.replicas,
                    selector: { matchLabels: { app: POOLER_NAME } },
                    template: {
                        metadata: {
                            labels,
                            annotations: {
                                "hanzo.ai/config-checksum": configChecksum({ "pgbouncer.ini": ini }),
                                "hanzo.ai/userlist-checksum": userlistChecksum,
                            },
                        },
                        spec: {
                            // fsGroup: the kubelet gives the userlist's files group 70 (root-owned, 0440), so
                            // PgBouncer (uid 70) can read them and nobody else; without it they stay root:root
                            // 0400 and every client fails SASL while the tcpSocket probe passes.
                            ...podIdentity(serviceAccount),
                            securityContext: hardenedPod(PGBOUNCER_UID, "always"),
                            containers: [
                                {
                                    name: "pgbouncer",
                                    image: p.image,
                                    command: ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"],
                                    ports: [{ name: "pgbouncer", containerPort: PGBOUNCER_PORT, protocol: "TCP" }],
                                    readinessProbe: { tcpSocket: { port: "pgbouncer" }, periodSeconds: 5 },
                                    livenessProbe: { tcpSocket: { port: "pgbouncer" }, periodSeconds: 15, failureThreshold: 4 },
                                    resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "1", memory: "256Mi" } },
                                    securityContext: hardenedContainer(),
                                    volumeMounts: [
                                        {
                                            name: "config",
                                            mountPath: "/etc/pgbouncer/pgbouncer.ini",
                                            subPath: "pgbouncer.ini",
                                            readOnly: true,
                                        },
                                        { name: "auth", mountPath: "/etc/pgbouncer/auth", readOnly: true },
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "config", configMap: { name: config.metadata.name } },
                                { name: "auth", secret: { secretName: secret.metadata.name, defaultMode: 0o440 } },
                            ],
                        },
                    },
                },
            },
            { parent: this },
        );
        new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: POOLER_NAME, namespace: args.namespace, labels },
                spec: {
                    selector: { app: POOLER_NAME },
                    ports: [{ name: "pgbouncer", port: PGBOUNCER_PORT, targetPort: "pgbouncer", protocol: "TCP" }],
                },
            },
            { parent: this },
        );
        new k8s.networking.v1.NetworkPolicy(
            `${name}-network-policy`,
            {
                metadata: { name: `${POOLER_NAME}-network-policy`, namespace: args.namespace, labels },
                spec: {
                    podSelector: { matchLabels: { app: POOLER_NAME } },
                    policyTypes: ["Ingress"],
                    ingress: [
                        {
                            from: [
                                { podSelector: {} },
                                ...args.clientNamespaces.map((ns) => ({
                                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
                                })),
                            ],
                            ports: [{ protocol: "TCP", port: PGBOUNCER_PORT }],
                        },
                    ],
                },
            },
            { parent: this },
        );
        // Out of the pod: the server and name resolution, nothing else.
        egressPolicy(
            `${name}-egress`,
            {
                namespace: args.namespace,
                name: `${POOLER_NAME}-egress`,
                labels,
                podSelector: { app: POOLER_NAME },
                egress: [podEgress(args.serverSelector, args.serverPort), dnsEgress()],
            },
            { parent: this },
        );
        this.registerOutputs({ host: this.host });
    }
}
