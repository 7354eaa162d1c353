import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { REPLICATION_ROLE, REPLICATION_SECRET, ReplicationSpec } from "../policies/standard/replication";
import { labels as objectLabels } from "../render/labels";
import { pgpassAnyHost } from "../render/connection";
import { loginRole } from "./roles";
import type { RestoredObjects } from "../stacks/pitrBootstrap";
import { restoredImport } from "./bootstrap";
import { stateInputs } from "./stateInputs";

export interface PostgresReplicationArgs {
    /** Namespace of the Secret. */
    readonly namespace: pulumi.Input<string>;
    /** The stack's standbys (at least one: the component is declared only then). */
    readonly replication: ReplicationSpec;
    /** Roles and databases a bootstrap restored (pitrBootstrapFrom.restored): imported, not created (components/bootstrap.ts). */
    readonly restored?: RestoredObjects;
}

/**
 * The replication role `hanzo_replication` (LOGIN and REPLICATION, nothing else; pg_hba admits it to
 * `replication` from the pod network only and rejects it from every database) and its Secret
 * `postgres-replication`, which the standbys' pods mount: `username`, `password` and a `pgpass` line for the
 * `replication` pseudo-database, so pg_basebackup and the walreceiver authenticate without the password in any
 * command line or in postgresql.auto.conf. Expects `postgresql` and `kubernetes` providers.
 */
export class PostgresReplication extends pulumi.ComponentResource {
    /** Name of the Secret the standbys mount. */
    public readonly secretName: pulumi.Output<string>;

    constructor(name: string, args: PostgresReplicationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hanzo-sql:index:PostgresReplication", name, stateInputs(args), opts);
        if (args.replication.standbys < 1) {
            throw new pulumi.ResourceError(`PostgresReplication ${name}: declared without standbys (standbys = 0)`, this);
        }
        const password = new random.RandomPassword(`${name}-role-password`, { length: 32, special: false }, { parent: this });
        loginRole(
            `${name}-role`,
            { name: REPLICATION_ROLE, password: password.result, replication: true, privileged: true },
            { parent: this, ...restoredImport(args.restored, "roles", REPLICATION_ROLE) },
        );
        const secret = new k8s.core.v1.Secret(
            `${name}-secret`,
            {
                metadata: { name: REPLICATION_SECRET, namespace: args.namespace, labels: objectLabels({ name: "postgresql-replication" }) },
                type: "Opaque",
                stringData: {
                    username: REPLICATION_ROLE,
                    password: password.result,
                    pgpass: pulumi.secret(password.result.apply((p) => pgpassAnyHost("replication", REPLICATION_ROLE, p))),
                },
            },
            { parent: this },
        );
        this.secretName = secret.metadata.name;
        this.registerOutputs({ secretName: this.secretName });
    }
}
