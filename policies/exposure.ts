import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import type { IService } from "kubernetes-models/v1/Service";
import { PGBOUNCER_PORT, POSTGRES_PORT } from "./standard/ports";
import { Container, T, WORKLOADS, entries, k8s, k8sName, kindOf, known, list, ofType, plainStack, selects, str } from "./lib";

/** The database ports, by number and by the names the program gives them. */
const DATABASE_PORTS: readonly (number | string)[] = [POSTGRES_PORT, PGBOUNCER_PORT, "postgresql", "pgbouncer"];

/** Does a container serve a database port (the server's or the pooler's)? */
function servesDatabase(c: Container): boolean {
    return list<{ containerPort?: unknown; name?: unknown }>(c.ports).some(
        (p) => DATABASE_PORTS.includes(p.containerPort as number) || DATABASE_PORTS.includes(p.name as string),
    );
}

/** Workloads whose pods serve a database port. */
function databaseWorkloads(resources: PolicyResource[]): PolicyResource[] {
    return resources.filter(
        (r) => r.type in WORKLOADS && list<Container>(WORKLOADS[r.type](r.props)?.spec?.containers).some(servesDatabase),
    );
}

/** Gateway API routes (TCPRoute, TLSRoute, HTTPRoute, GRPCRoute, any version): their backendRefs reach a Service. */
function isRoute(type: string): boolean {
    return type.startsWith("kubernetes:gateway.networking.k8s.io/") && type.endsWith("Route");
}

/**
 * no-external-exposure: nothing exposes the server's or the pooler's port (5432, 6432) outside the cluster:
 * no Service of type LoadBalancer or NodePort, with externalIPs, or with a load balancer address, that
 * selects their pods or serves those ports; no Ingress, Gateway API route or ingress-nginx TCP/UDP services
 * ConfigMap entry that sends traffic to such a Service; no hostNetwork or hostPort on their pods (STANDARD §4:
 * only pods of the namespace reach 5432; HIP-29: anything that leaves the cluster needs TLS, which the server
 * does not have).
 *
 * Protects: a database port on a node or a load balancer is reachable from the Internet, where the
 * NetworkPolicy does not apply and passwords travel without TLS. Instead: a headless or ClusterIP Service;
 * administrators use `kubectl port-forward`.
 */
export const noExternalExposure: StackValidationPolicy = {
    name: "no-external-exposure",
    description: `No LoadBalancer/NodePort Service, externalIPs, Ingress, Gateway route, TCP-services entry, hostNetwork or hostPort exposes ${POSTGRES_PORT} or ${PGBOUNCER_PORT} outside the cluster.`,
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const dbWorkloads = databaseWorkloads(args.resources);
        const dbServices = new Set<string>();
        for (const svc of ofType(args, T.service)) {
            const s = k8s<IService>(svc);
            const ns = str(s.metadata?.namespace) ?? "";
            const ports = list<{ port?: unknown; targetPort?: unknown; nodePort?: unknown }>(s.spec?.ports);
            const selector = s.spec?.selector;
            const selectsDb =
                known(selector) &&
                selector !== undefined &&
                Object.keys(selector).length > 0 &&
                dbWorkloads.some(
                    (w) =>
                        (str(w.props?.metadata?.namespace) ?? "") === ns &&
                        selects({ matchLabels: selector }, WORKLOADS[w.type](w.props)?.metadata?.labels ?? {}),
                );
            const servesDb = ports.some(
                (p) => DATABASE_PORTS.includes(p.port as number) || DATABASE_PORTS.includes(p.targetPort as string),
            );
            if (!selectsDb && !servesDb) {
                continue;
            }
            dbServices.add(`${ns}/${str(s.metadata?.name) ?? ""}`);
            const where = `Service "${k8sName(svc)}"`;
            const type = str(s.spec?.type);
            if (type === "LoadBalancer" || type === "NodePort") {
                report(
                    `${where} is of type ${type}, which exposes the database port outside the cluster; use a ClusterIP (or headless) Service.`,
                    svc.urn,
                );
            }
            if (list(s.spec?.externalIPs).length > 0) {
                report(
                    `${where} sets externalIPs ${list(s.spec?.externalIPs).join(", ")}, which expose the database port outside the cluster; remove them.`,
                    svc.urn,
                );
            }
            if (str(s.spec?.loadBalancerIP) !== undefined || list(s.spec?.loadBalancerSourceRanges).length > 0) {
                report(`${where} asks for a load balancer (loadBalancerIP or loadBalancerSourceRanges); remove it.`, svc.urn);
            }
        }
        const exposesDb = (ns: string, name: unknown) => str(name) !== undefined && dbServices.has(`${ns}/${name}`);
        for (const ing of ofType(args, T.ingress)) {
            const ns = str(ing.props?.metadata?.namespace) ?? "";
            const spec = ing.props?.spec ?? {};
            const backends = [
                spec.defaultBackend?.service?.name,
                ...list<{ http?: { paths?: unknown[] } }>(spec.rules).flatMap((r) =>
                    list<{ backend?: { service?: { name?: string } } }>(r.http?.paths).map((p) => p.backend?.service?.name),
                ),
            ];
            for (const b of backends.filter((n) => exposesDb(ns, n))) {
                report(`Ingress "${k8sName(ing)}" routes to the database Service "${b}" from outside the cluster; remove it.`, ing.urn);
            }
        }
        for (const route of args.resources.filter((r) => isRoute(r.type))) {
            const ns = str(route.props?.metadata?.namespace) ?? "";
            for (const rule of list<{ backendRefs?: unknown[] }>(route.props?.spec?.rules)) {
                for (const ref of list<{ name?: string; namespace?: string }>(rule.backendRefs)) {
                    if (exposesDb(str(ref.namespace) ?? ns, ref.name)) {
                        report(
                            `${kindOf(route.type)} "${k8sName(route)}" routes to the database Service "${ref.name}" through a Gateway, outside the cluster; remove it.`,
                            route.urn,
                        );
                    }
                }
            }
        }
        // ingress-nginx's --tcp-services-configmap / --udp-services-configmap: "<port>": "<namespace>/<service>:<port>".
        for (const cm of ofType(args, T.configMap)) {
            for (const [port, v] of entries(cm.props?.data)) {
                const m = /^([a-z0-9-]+)\/([a-z0-9-]+):/.exec(str(v) ?? "");
                if (m && /^[0-9]+$/.test(port) && exposesDb(m[1], m[2])) {
                    report(
                        `ConfigMap "${k8sName(cm)}" key ${port} forwards an ingress controller's port to the database Service "${m[1]}/${m[2]}"; remove the entry.`,
                        cm.urn,
                    );
                }
            }
        }
        for (const w of dbWorkloads) {
            const pod = WORKLOADS[w.type](w.props);
            const where = `${kindOf(w.type)} "${k8sName(w)}"`;
            if (pod?.spec?.hostNetwork === true) {
                report(
                    `${where} runs on the node's network (hostNetwork), which exposes the database port on the node's addresses; remove it.`,
                    w.urn,
                );
            }
            for (const c of list<Container>(pod?.spec?.containers)) {
                for (const p of list<{ hostPort?: unknown; containerPort?: unknown }>(c.ports).filter((x) => x.hostPort !== undefined)) {
                    report(
                        `${where} container "${c.name}" maps port ${String(p.containerPort)} to the node's port ${String(p.hostPort)} (hostPort), outside the cluster; remove it.`,
                        w.urn,
                    );
                }
            }
        }
    },
};
