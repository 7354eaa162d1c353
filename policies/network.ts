import type { StackValidationPolicy } from "@pulumi/policy";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyIngressRule } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyIngressRule";
import type { INetworkPolicyPort } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort";
import { METRICS_PORT, PGBACKREST_TLS_PORT, POSTGRES_PORT } from "./standard/ports";
import { PITR_OBJECTS } from "./standard/jobs";
import { T, WORKLOADS, builtBy, configOf, k8s, k8sName, kindOf, known, list, ofType, plainStack, postgresServers, selects } from "./lib";

export interface NetworkConfig {
    /** The PostgreSQL port. */
    port: number;
    /** The metrics exporter's port, admitted only from the monitoring namespaces. */
    metricsPort: number;
    /** Namespaces whose Prometheus may scrape the metrics port. */
    monitoringNamespaces: string[];
}

const DEFAULTS: NetworkConfig = { port: POSTGRES_PORT, metricsPort: METRICS_PORT, monitoringNamespaces: ["monitoring"] };
const NAMESPACE_LABEL = "kubernetes.io/metadata.name";

/**
 * network-isolation: a NetworkPolicy selects the PostgreSQL pods and admits only pods of their own
 * namespace (or namespaces named explicitly, by `kubernetes.io/metadata.name`) to 5432, and only the
 * monitoring namespaces to the metrics port (STANDARD §4, §9).
 *
 * Protects: the server is unreachable from other tenants of the cluster even with a password. Admitting
 * "from anywhere", an IP block, every namespace, a namespace by a label anyone can set, or another port is a
 * violation. Instead: a podSelector `{}` peer (the namespace itself) or a namespace selected by name.
 */
export const networkIsolation: StackValidationPolicy = {
    name: "network-isolation",
    description: `A NetworkPolicy selects the PostgreSQL pods and admits only their namespace on ${POSTGRES_PORT} (and monitoring on the metrics port).`,
    configSchema: {
        properties: {
            port: { type: "integer", default: DEFAULTS.port },
            metricsPort: { type: "integer", default: DEFAULTS.metricsPort },
            monitoringNamespaces: { type: "array", items: { type: "string" }, default: DEFAULTS.monitoringNamespaces },
        },
    },
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const cfg = configOf<NetworkConfig>(args, DEFAULTS);
        for (const sts of postgresServers(args)) {
            const ns = sts.props?.metadata?.namespace;
            const labels = WORKLOADS[T.statefulSet](sts.props)?.metadata?.labels ?? {};
            const policies = ofType(args, T.networkPolicy).filter(
                (np) =>
                    np.props?.metadata?.namespace === ns &&
                    selects(np.props?.spec?.podSelector, labels) &&
                    (np.props?.spec?.policyTypes ?? ["Ingress"]).includes("Ingress"),
            );
            if (policies.length === 0) {
                report(
                    `no NetworkPolicy selects the PostgreSQL pods of StatefulSet "${k8sName(sts)}"; without one every pod in the cluster can reach ${cfg.port}.`,
                    sts.urn,
                );
                continue;
            }
            for (const np of policies) {
                const where = `NetworkPolicy "${k8sName(np)}"`;
                for (const rule of list<INetworkPolicyIngressRule>(k8s<INetworkPolicy>(np).spec?.ingress)) {
                    const ports = list<INetworkPolicyPort>(rule.ports).map((p) => p.port);
                    // A rule whose ports or peers are not known yet (a preview) is checked when they are.
                    if (!known(rule.ports) || !ports.every(known) || !known(rule.from)) {
                        continue;
                    }
                    if (ports.length === 0 || ports.some((p) => p === undefined)) {
                        report(`${where} admits every port; admit ${cfg.port} only.`, np.urn);
                    }
                    // pgBackRest's TLS server (docs/pitr.md): from the program's base backup pods alone, checked below.
                    const archive = ports.length > 0 && ports.every((p) => p === PGBACKREST_TLS_PORT || p === "pgbackrest");
                    if (archive) {
                        archiveIngressProblems(args, ns, rule).forEach((p) => report(`${where} ${p}`, np.urn));
                        continue;
                    }
                    const other = ports.filter(
                        (p) => p !== undefined && p !== cfg.port && p !== cfg.metricsPort && p !== "postgresql" && p !== "metrics",
                    );
                    if (other.length > 0) {
                        report(
                            `${where} admits port ${other.join(", ")}; the server takes ${cfg.port} (and ${cfg.metricsPort} for metrics).`,
                            np.urn,
                        );
                    }
                    const metrics = ports.length > 0 && ports.every((p) => p === cfg.metricsPort || p === "metrics");
                    if (!rule.from || rule.from.length === 0) {
                        report(`${where} admits traffic from anywhere (an ingress rule without from); admit the namespace only.`, np.urn);
                        continue;
                    }
                    for (const peer of rule.from) {
                        const named = peer.namespaceSelector?.matchLabels?.[NAMESPACE_LABEL];
                        if (peer.ipBlock) {
                            report(`${where} admits an IP block; admit the namespace only.`, np.urn);
                        } else if (peer.namespaceSelector && named === undefined) {
                            report(
                                `${where} admits namespaces by a label anyone can set (or every namespace); select them by ${NAMESPACE_LABEL}.`,
                                np.urn,
                            );
                        } else if (metrics && (named === undefined || !cfg.monitoringNamespaces.includes(named))) {
                            report(
                                `${where} admits the metrics port from ${named === undefined ? "the namespace" : `namespace "${named}"`}; admit only ${cfg.monitoringNamespaces.join(", ")}.`,
                                np.urn,
                            );
                        }
                    }
                }
            }
        }
    },
};

/**
 * What is wrong with an ingress rule that admits pgBackRest's TLS server port to the server pods: each peer must
 * be a podSelector of the rule's namespace (no namespace, no IP block) with labels, selecting pods of the
 * program's base backup CronJobs (PostgresArchive's) and of no other workload, and selecting at least one.
 */
function archiveIngressProblems(args: ReturnType<typeof plainStack>, ns: unknown, rule: INetworkPolicyIngressRule): string[] {
    const problems: string[] = [];
    const backupJob = (w: { type: string; urn: string; props: Record<string, unknown> }) =>
        w.type === T.cronJob &&
        builtBy(w, T.postgresArchive) &&
        [PITR_OBJECTS.fullCronJob, PITR_OBJECTS.diffCronJob].includes((w.props?.metadata as { name?: string } | undefined)?.name as never);
    if (!rule.from || rule.from.length === 0) {
        return [`admits pgBackRest's port ${PGBACKREST_TLS_PORT} from anywhere; admit the base backup pods only.`];
    }
    for (const peer of rule.from) {
        if (peer.ipBlock || peer.namespaceSelector || !peer.podSelector || Object.keys(peer.podSelector.matchLabels ?? {}).length === 0) {
            problems.push(
                `admits pgBackRest's port ${PGBACKREST_TLS_PORT} from more than the base backup pods; admit them alone, by their labels.`,
            );
            continue;
        }
        const selected = args.resources.filter(
            (w) =>
                w.type in WORKLOADS &&
                w.props?.metadata?.namespace === ns &&
                selects(peer.podSelector as never, WORKLOADS[w.type](w.props)?.metadata?.labels ?? {}),
        );
        const others = selected.filter((w) => !backupJob(w));
        if (others.length > 0) {
            problems.push(
                `admits pgBackRest's port ${PGBACKREST_TLS_PORT} from ${others.map((w) => `${kindOf(w.type)} "${k8sName(w)}"`).join(", ")}; only the ${PITR_OBJECTS.fullCronJob} and ${PITR_OBJECTS.diffCronJob} CronJobs may reach it.`,
            );
        } else if (selected.length === 0) {
            problems.push(
                `admits pgBackRest's port ${PGBACKREST_TLS_PORT} from pods no workload of the stack runs; select the base backup pods.`,
            );
        }
    }
    return problems;
}

/**
 * egress-isolation: every workload (a Pod-bearing resource) in the stack has its pods selected by at least
 * one NetworkPolicy of its namespace whose policyTypes include Egress.
 *
 * Protects: a pod no such policy selects may open connections to any address: the backup pod (which holds
 * a read-everything password and the bucket's keys) or the pooler could reach other tenants, the cloud
 * metadata service or the Internet. A policy without policyTypes covers Egress only when it has egress
 * rules (NetworkPolicySpec.policyTypes in the API reference). Instead: one egress policy per workload that
 * allows only what it needs (the server, the bucket endpoint, DNS).
 */
export const egressIsolation: StackValidationPolicy = {
    name: "egress-isolation",
    description: "Every workload's pods are selected by a NetworkPolicy with Egress in its policyTypes (least-privilege egress).",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const policies = ofType(args, T.networkPolicy);
        for (const w of args.resources.filter((r) => r.type in WORKLOADS)) {
            const template = WORKLOADS[w.type](w.props);
            const labels = template?.metadata?.labels ?? {};
            const ns = w.props?.metadata?.namespace;
            if (!known(labels) || !known(ns) || list(Object.values(labels)).some((v) => !known(v))) {
                continue;
            }
            const egress = policies.filter((np) => {
                const spec = np.props?.spec;
                const types: unknown = spec?.policyTypes ?? ["Ingress", ...(spec?.egress !== undefined ? ["Egress"] : [])];
                return (
                    np.props?.metadata?.namespace === ns &&
                    known(spec?.podSelector) &&
                    selects(spec?.podSelector, labels) &&
                    (!known(types) || list(types).includes("Egress"))
                );
            });
            if (egress.length === 0) {
                report(
                    `${kindOf(w.type)} "${k8sName(w)}": no NetworkPolicy with Egress in its policyTypes selects its pods, so they can reach any address; add one that allows only what they need.`,
                    w.urn,
                );
            }
        }
    },
};
