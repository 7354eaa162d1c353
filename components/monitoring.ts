import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { serverAlerts } from "../render/alerts";
import { replicationAlerts } from "../render/replicationAlerts";
import { labels as objectLabels } from "../render/labels";
import { MONITOR_DATABASE, MONITOR_ROLE, SYSTEM_ROLE_MEMBERSHIPS } from "../policies/standard/rules";
import type { MonitoringSpec, On } from "../stacks/spec";
import { loginRole } from "./roles";
import type { RestoredObjects } from "../stacks/pitrBootstrap";
import { restoredImport } from "./bootstrap";
import { stateInputs } from "./stateInputs";

/** Built-in role that may read every statistics view, and nothing else (the standard's list, policies/standard/roles.ts). */
export const MONITOR_ROLE_MEMBERSHIPS = SYSTEM_ROLE_MEMBERSHIPS[MONITOR_ROLE];

export interface PostgresMonitoringArgs {
    /** Roles and databases a bootstrap restored (pitrBootstrapFrom.restored): imported, not created (components/bootstrap.ts). */
    readonly restored?: RestoredObjects;
    /** Namespace of the PodMonitor and the PrometheusRule (the server's). */
    readonly namespace: pulumi.Input<string>;
    /** The namespace's name, known at declaration (the alerts select by it). */
    readonly namespaceName: string;
    /** The Prometheus release that selects the rules, and the exporter's image (monitoring is on). */
    readonly monitoring: On<MonitoringSpec>;
    /** The StatefulSet's name (the PodMonitor's and the rules' names). */
    readonly instanceName: string;
    /** The server pods' selector. */
    readonly selector: Record<string, string>;
    /** The data volume's size in bytes (the database-size alert is a share of it). */
    readonly volumeBytes: number;
    /** The exporter's password (the PostgresInstance's monitoring Secret holds it). */
    readonly password: pulumi.Input<string>;
    /** The stack's standbys: with any, the standbys' alerts (render/replicationAlerts.ts) join the rules. */
    readonly standbys?: number;
}

/**
 * Metrics (STANDARD §9): the exporter's role `hanzo_monitor` (login, member of pg_monitor, CONNECT on
 * `postgres`, nothing more), a
 * PodMonitor that scrapes the exporter sidecar, and a PrometheusRule with the standard's alerts plus
 * "exporter down or absent". Expects `postgresql` and `kubernetes` providers.
 */
export class PostgresMonitoring extends pulumi.ComponentResource {
    constructor(name: string, args: PostgresMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hanzo-sql:index:PostgresMonitoring", name, stateInputs(args), opts);
        const m = args.monitoring;
        const labels = objectLabels({ extra: { release: m.release } });

        const role = loginRole(
            `${name}-role`,
            { name: MONITOR_ROLE, password: args.password, roles: [...MONITOR_ROLE_MEMBERSHIPS], privileged: true },
            { parent: this, ...restoredImport(args.restored, "roles", MONITOR_ROLE) },
        );
        // PUBLIC may not connect to the maintenance databases; the exporter may, to the one it scrapes.
        new postgresql.Grant(
            `${name}-connect-${MONITOR_DATABASE}`,
            { database: MONITOR_DATABASE, role: role.name, objectType: "database", privileges: ["CONNECT"] },
            { parent: this },
        );
        new k8s.apiextensions.CustomResource(
            `${name}-pod-monitor`,
            {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PodMonitor",
                metadata: { name: args.instanceName, namespace: args.namespace, labels },
                spec: {
                    selector: { matchLabels: args.selector },
                    podMetricsEndpoints: [{ port: "metrics", interval: "30s", scrapeTimeout: "10s" }],
                },
            },
            { parent: this },
        );
        new k8s.apiextensions.CustomResource(
            `${name}-alerts`,
            {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: { name: `${args.instanceName}-alerts`, namespace: args.namespace, labels },
                // prometheus-operator names a PodMonitor's job <namespace>/<name>.
                spec: {
                    groups: [
                        serverAlerts({
                            namespace: args.namespaceName,
                            job: `${args.namespaceName}/${args.instanceName}`,
                            volumeBytes: args.volumeBytes,
                        }),
                        ...(args.standbys ? [replicationAlerts({ namespace: args.namespaceName, standbys: args.standbys })] : []),
                    ],
                },
            },
            { parent: this },
        );
        this.registerOutputs({});
    }
}
