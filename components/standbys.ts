import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { READ_SERVICE, ReplicationSpec, STANDBY_STATEFULSET } from "../policies/standard/replication";
import { replacementOptions } from "../policies/standard/replacement";
import { TYPES } from "../policies/standard/types";
import { INSTANCE_LABEL, labels as objectLabels } from "../render/labels";
import { DATA_CLAIM_TEMPLATE, ServerStatefulSetInput, serverStatefulSet, serverStatefulSetMetadata } from "../render/pods/server";
import { roleLabel } from "../render/pods/standby";
import { podEgress } from "../render/egress";
import { egressPolicy, workloadServiceAccount } from "./hardening";
import { ROLLOUT_TIMEOUT } from "./postgresInstance";
import { dataProtection } from "./protection";
import { stateInputs } from "./stateInputs";

export interface PostgresStandbysArgs {
    /** Namespace of every object. */
    readonly namespace: pulumi.Input<string>;
    /** The primary's StatefulSet as PostgresInstance built it: the standbys' pods are the same but for their role. */
    readonly primary: ServerStatefulSetInput;
    /** The stack's standbys (at least one). */
    readonly replication: ReplicationSpec;
    /** The server's port. */
    readonly port: number;
    /** Protect the standbys' StatefulSet: after a failover its pod is the primary, holding the only live data. */
    readonly protectData: boolean;
}

/**
 * The standbys' Kubernetes objects (docs/standbys.md, "Kubernetes shape"): their own StatefulSet
 * `postgres-standby` built by the primary's pod builder with `role: "standby"` (the primary's StatefulSet, its
 * claim and the seed's adoption stay as they are, and nothing replace-forcing of it ever depends on `standbys`),
 * each claim grown like the primary's, the read Service `postgres-ro` selecting standbys only, and the egress rule
 * that lets server pods reach each other on the server's port (clones, streaming, a rejoin's pg_rewind). Ingress
 * needs no new rule: the server's NetworkPolicy selects every server pod (`app`) and admits the namespace's pods.
 * Declared after the replication role exists, so a standby's first clone finds it.
 */
export class PostgresStandbys extends pulumi.ComponentResource {
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    public readonly readService: k8s.core.v1.Service;

    constructor(name: string, args: PostgresStandbysArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hanzo-sql:index:PostgresStandbys", name, stateInputs(args), opts);
        const { primary, replication } = args;
        if (replication.standbys < 1) {
            throw new pulumi.ResourceError(`PostgresStandbys ${name}: declared without standbys (standbys = 0)`, this);
        }
        const app = primary.selector.app;
        const labels = objectLabels({ app, name: "postgresql", instance: STANDBY_STATEFULSET });
        // `app` is every server pod's (the server's NetworkPolicies, the clients' egress rules select it); the
        // instance label tells the standbys' pods from the primary's. The primary's selector ({app}) matches them
        // too, but a StatefulSet claims only pods named after it (isMemberOf in getPodsForStatefulSet,
        // kubernetes pkg/controller/statefulset/stateful_set.go), so neither StatefulSet takes the other's pods.
        const selector = { app, [INSTANCE_LABEL]: STANDBY_STATEFULSET };
        // Its own identity (workload-identity), no API token, like the primary's.
        const serviceAccount = workloadServiceAccount(
            `${name}-service-account`,
            { namespace: args.namespace, name: STANDBY_STATEFULSET, labels },
            { parent: this },
        );
        const server: ServerStatefulSetInput = {
            name: STANDBY_STATEFULSET,
            serviceName: READ_SERVICE,
            replicas: replication.standbys,
            labels,
            selector,
            claim: primary.claim,
            pod: {
                ...primary.pod,
                role: "standby",
                labels: { ...labels, ...roleLabel("standby") },
                serviceAccountName: serviceAccount.metadata.name,
            },
        };
        this.statefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-statefulset`,
            { metadata: serverStatefulSetMetadata(server, args.namespace), spec: serverStatefulSet(server) },
            {
                parent: this,
                ...dataProtection(args.protectData),
                ...replacementOptions(TYPES.statefulSet),
                customTimeouts: { create: ROLLOUT_TIMEOUT, update: ROLLOUT_TIMEOUT },
            },
        );
        // Each standby's disk grows in place as the primary's does (components/postgresInstance.ts).
        for (let i = 0; i < replication.standbys; i++) {
            new k8s.core.v1.PersistentVolumeClaimPatch(
                `${name}-data-claim-${i}`,
                {
                    metadata: {
                        name: `${DATA_CLAIM_TEMPLATE}-${STANDBY_STATEFULSET}-${i}`,
                        namespace: args.namespace,
                        annotations: { "pulumi.com/patchForce": "true" },
                    },
                    spec: { resources: { requests: { storage: primary.claim.storageSize } } },
                },
                { parent: this, dependsOn: [this.statefulSet], retainOnDelete: true },
            );
        }
        // Reads: the standbys only; a pod is listed while its server is in recovery (render/scripts/role-ready.sh).
        this.readService = new k8s.core.v1.Service(
            `${name}-read-service`,
            {
                metadata: { name: READ_SERVICE, namespace: args.namespace, labels },
                spec: {
                    clusterIP: "None",
                    selector: { app, ...roleLabel("standby") },
                    ports: [{ name: "postgresql", port: args.port, targetPort: "postgresql", protocol: "TCP" }],
                },
            },
            { parent: this },
        );
        // Server pods to server pods on the server's port; their own egress policy allows name resolution only.
        egressPolicy(
            `${name}-replication-egress`,
            {
                namespace: args.namespace,
                name: `${primary.name}-replication-egress`,
                labels,
                podSelector: { app },
                egress: [podEgress({ app }, args.port)],
            },
            { parent: this },
        );
        this.registerOutputs({ statefulSetName: this.statefulSet.metadata.name, readServiceName: this.readService.metadata.name });
    }
}
