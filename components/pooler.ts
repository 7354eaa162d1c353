import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PGBOUNCER_PORT, renderPgbouncerIni, renderUserlist } from "../render/pgbouncer";
import { labels as objectLabels } from "../render/labels";
import type { On, PoolingSpec } from "../stacks/spec";
import { configChecksum } from "../render/checksum";
import { PGBOUNCER_AUTH_FILE, pgbouncerDeployment } from "../render/pods/pgbouncer";
import { stateInputs } from "./stateInputs";
import { dnsEgress, podEgress } from "../render/egress";
import { egressPolicy, workloadServiceAccount } from "./hardening";

export const POOLER_NAME = "pgbouncer";
export { PGBOUNCER_UID } from "../render/pods/pgbouncer";

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
    /** The standbys' read Service, when the stack has standbys: each database gets a read-only pool `<database>-ro` there. */
    readonly readHost?: string;
    /** Labels of the server's pods, the only destination besides DNS; `{app: postgres}` selects the standbys' pods too. */
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
            ...(args.readHost === undefined ? {} : { readHost: args.readHost }),
            maxClientConn: p.maxClientConn,
            defaultPoolSize: p.defaultPoolSize,
            authFile: PGBOUNCER_AUTH_FILE,
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
        // The pod is built by render/pods/pgbouncer.ts; this wires it to the objects above.
        new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: { name: POOLER_NAME, namespace: args.namespace, labels },
                spec: pgbouncerDeployment({
                    replicas: p.replicas,
                    selector: { app: POOLER_NAME },
                    labels,
                    image: p.image,
                    configChecksum: configChecksum({ "pgbouncer.ini": ini }),
                    userlistChecksum,
                    serviceAccountName: serviceAccount.metadata.name,
                    configMap: config.metadata.name,
                    userlistSecret: secret.metadata.name,
                }),
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
