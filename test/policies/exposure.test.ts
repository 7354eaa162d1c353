import * as assert from "assert";
import { noExternalExposure } from "../../policies/exposure";
import { TYPE, add, find, inputs, planCopy, pooledPlanCopy, violations } from "../support/policy";

describe("no-external-exposure", () => {
    const P = "no-external-exposure";
    const SVC = "kubernetes:core/v1:Service";
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack (a headless Service)`, async () => {
            assert.deepStrictEqual(await violations(noExternalExposure, await planCopy(stack)), []);
        });
    }

    it("passes a stack with PgBouncer (a ClusterIP Service on 6432)", async () => {
        assert.deepStrictEqual(await violations(noExternalExposure, await pooledPlanCopy()), []);
    });

    it("rejects the server's Service turned LoadBalancer, and hand-added NodePort, externalIPs and load balancer Services that select the server or serve its port", async () => {
        const plan = await planCopy();
        Object.assign(inputs(find(plan, TYPE.service, "postgres")).spec, { type: "LoadBalancer", clusterIP: undefined });
        add(plan, SVC, "pg-nodeport", {
            metadata: { name: "pg-nodeport", namespace: "hanzo" },
            spec: { type: "NodePort", selector: { app: "postgres" }, ports: [{ port: 15432, targetPort: 5432, nodePort: 30432 }] },
        });
        add(plan, SVC, "pg-external", {
            metadata: { name: "pg-external", namespace: "hanzo" },
            spec: {
                selector: { "app.kubernetes.io/name": "postgresql" },
                ports: [{ port: 80, targetPort: "postgresql" }],
                externalIPs: ["203.0.113.7"],
            },
        });
        add(plan, SVC, "no-selector", {
            metadata: { name: "no-selector", namespace: "hanzo" },
            spec: { type: "LoadBalancer", ports: [{ port: 5432 }], loadBalancerSourceRanges: ["0.0.0.0/0"] },
        });
        // Not the database: a web app's LoadBalancer, and a Service in another namespace with the same labels.
        add(plan, SVC, "web", {
            metadata: { name: "web", namespace: "hanzo" },
            spec: { type: "LoadBalancer", selector: { app: "web" }, ports: [{ port: 443 }] },
        });
        add(plan, SVC, "elsewhere", {
            metadata: { name: "elsewhere", namespace: "other" },
            spec: { type: "NodePort", selector: { app: "postgres" }, ports: [{ port: 8080 }] },
        });
        const OUT = "which exposes the database port outside the cluster; use a ClusterIP (or headless) Service.";
        assert.deepStrictEqual(await violations(noExternalExposure, plan), [
            `${P}: hanzo-sql-postgres-service (${SVC}): Service "hanzo/postgres" is of type LoadBalancer, ${OUT}`,
            `${P}: pg-nodeport (${SVC}): Service "hanzo/pg-nodeport" is of type NodePort, ${OUT}`,
            `${P}: pg-external (${SVC}): Service "hanzo/pg-external" sets externalIPs 203.0.113.7, which expose the database port outside the cluster; remove them.`,
            `${P}: no-selector (${SVC}): Service "hanzo/no-selector" is of type LoadBalancer, ${OUT}`,
            `${P}: no-selector (${SVC}): Service "hanzo/no-selector" asks for a load balancer (loadBalancerIP or loadBalancerSourceRanges); remove it.`,
        ]);
    });

    it("rejects the pooler's Service made NodePort, and hostPort or hostNetwork on its pods", async () => {
        const plan = await pooledPlanCopy();
        inputs(find(plan, TYPE.service, "pgbouncer")).spec.type = "NodePort";
        const pod = inputs(find(plan, TYPE.deployment, "pgbouncer")).spec.template.spec;
        pod.hostNetwork = true;
        pod.containers[0].ports[0].hostPort = 6432;
        const D = `${P}: hanzo-sql-pgbouncer-deployment (kubernetes:apps/v1:Deployment): Deployment "hanzo/pgbouncer"`;
        const lines = await violations(noExternalExposure, plan);
        assert.deepStrictEqual(lines, [
            `${P}: hanzo-sql-pgbouncer-service (${SVC}): Service "hanzo/pgbouncer" is of type NodePort, which exposes the database port outside the cluster; use a ClusterIP (or headless) Service.`,
            `${D} runs on the node's network (hostNetwork), which exposes the database port on the node's addresses; remove it.`,
            `${D} container "pgbouncer" maps port 6432 to the node's port 6432 (hostPort), outside the cluster; remove it.`,
        ]);
    });

    it("rejects an Ingress, a Gateway TCPRoute and an ingress-nginx tcp-services entry that reach the database Service", async () => {
        const plan = await planCopy();
        add(plan, "kubernetes:networking.k8s.io/v1:Ingress", "pg-ingress", {
            metadata: { name: "pg", namespace: "hanzo" },
            spec: {
                rules: [
                    {
                        http: {
                            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "postgres", port: { number: 5432 } } } }],
                        },
                    },
                ],
            },
        });
        add(plan, "kubernetes:networking.k8s.io/v1:Ingress", "default-backend", {
            metadata: { name: "default-backend", namespace: "hanzo" },
            spec: { defaultBackend: { service: { name: "postgres", port: { name: "postgresql" } } } },
        });
        add(plan, "kubernetes:gateway.networking.k8s.io/v1alpha2:TCPRoute", "pg-route", {
            metadata: { name: "pg", namespace: "gateway" },
            spec: { parentRefs: [{ name: "public" }], rules: [{ backendRefs: [{ name: "postgres", namespace: "hanzo", port: 5432 }] }] },
        });
        add(plan, TYPE.configMap, "tcp-services", {
            metadata: { name: "tcp-services", namespace: "ingress-nginx" },
            data: { "5432": "hanzo/postgres:5432", "8080": "web/site:80" },
        });
        // Not the database: an Ingress to a web Service.
        add(plan, "kubernetes:networking.k8s.io/v1:Ingress", "web", {
            metadata: { name: "web", namespace: "hanzo" },
            spec: { defaultBackend: { service: { name: "web", port: { number: 80 } } } },
        });
        assert.deepStrictEqual(await violations(noExternalExposure, plan), [
            `${P}: pg-ingress (kubernetes:networking.k8s.io/v1:Ingress): Ingress "hanzo/pg" routes to the database Service "postgres" from outside the cluster; remove it.`,
            `${P}: default-backend (kubernetes:networking.k8s.io/v1:Ingress): Ingress "hanzo/default-backend" routes to the database Service "postgres" from outside the cluster; remove it.`,
            `${P}: pg-route (kubernetes:gateway.networking.k8s.io/v1alpha2:TCPRoute): TCPRoute "gateway/pg" routes to the database Service "postgres" through a Gateway, outside the cluster; remove it.`,
            `${P}: tcp-services (kubernetes:core/v1:ConfigMap): ConfigMap "ingress-nginx/tcp-services" key 5432 forwards an ingress controller's port to the database Service "hanzo/postgres"; remove the entry.`,
        ]);
    });

    it("rejects hostPort on the server's own pod, and a hand-added Pod serving 5432 on the node's network", async () => {
        const plan = await planCopy();
        inputs(find(plan, TYPE.statefulSet, "postgres")).spec.template.spec.containers[0].ports[0].hostPort = 5432;
        add(plan, TYPE.pod, "debug", {
            metadata: { name: "debug", namespace: "hanzo" },
            spec: { hostNetwork: true, containers: [{ name: "socat", image: "alpine/socat:1.8.0.0", ports: [{ containerPort: 5432 }] }] },
        });
        assert.deepStrictEqual(await violations(noExternalExposure, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres" container "postgres" maps port 5432 to the node's port 5432 (hostPort), outside the cluster; remove it.`,
            `${P}: debug (kubernetes:core/v1:Pod): Pod "hanzo/debug" runs on the node's network (hostNetwork), which exposes the database port on the node's addresses; remove it.`,
        ]);
    });
});
