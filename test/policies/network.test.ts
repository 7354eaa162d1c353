import * as assert from "assert";
import { networkIsolation } from "../../policies/network";
import { TYPE, find, inputs, planCopy, remove, violations } from "../support/policy";

const P = "network-isolation";
const NP = `${P}: hanzo-sql-postgres-network-policy (kubernetes:networking.k8s.io/v1:NetworkPolicy): NetworkPolicy "hanzo/postgres-network-policy"`;
const spec = (plan: any) => inputs(find(plan, TYPE.networkPolicy, "postgres-network-policy")).spec;

describe("network-isolation", () => {
    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(networkIsolation, await planCopy(stack)), []);
        });
    }

    it("rejects a server no NetworkPolicy selects", async () => {
        const plan = await planCopy();
        spec(plan).podSelector = { matchLabels: { app: "other" } };
        assert.deepStrictEqual(await violations(networkIsolation, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): no NetworkPolicy selects the PostgreSQL pods of StatefulSet "hanzo/postgres"; without one every pod in the cluster can reach 5432.`,
        ]);
        remove(plan, (r) => r.type === TYPE.networkPolicy);
        assert.deepStrictEqual(await violations(networkIsolation, plan), [
            `${P}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): no NetworkPolicy selects the PostgreSQL pods of StatefulSet "hanzo/postgres"; without one every pod in the cluster can reach 5432.`,
        ]);
    });

    it("rejects rules from anywhere, IP blocks, label-selected namespaces, and other ports", async () => {
        const plan = await planCopy();
        spec(plan).ingress = [
            { ports: [{ protocol: "TCP", port: 5432 }] },
            { from: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { namespaceSelector: { matchLabels: { name: "hanzo" } } }, { namespaceSelector: {} }], ports: [{ port: 5432 }] },
            { from: [{ podSelector: {} }], ports: [{ port: 22 }] },
            { from: [{ podSelector: {} }] },
        ];
        assert.deepStrictEqual(await violations(networkIsolation, plan), [
            `${NP} admits traffic from anywhere (an ingress rule without from); admit the namespace only.`,
            `${NP} admits an IP block; admit the namespace only.`,
            `${NP} admits namespaces by a label anyone can set (or every namespace); select them by kubernetes.io/metadata.name.`,
            `${NP} admits namespaces by a label anyone can set (or every namespace); select them by kubernetes.io/metadata.name.`,
            `${NP} admits port 22; the server takes 5432 (and 9187 for metrics).`,
            `${NP} admits every port; admit 5432 only.`,
        ]);
    });

    it("admits the metrics port from the monitoring namespaces only", async () => {
        const plan = await planCopy();
        spec(plan).ingress.push(
            { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ port: 9187 }] },
            { from: [{ podSelector: {} }], ports: [{ port: 9187 }] },
        );
        assert.deepStrictEqual(await violations(networkIsolation, plan), [
            `${NP} admits the metrics port from the namespace; admit only monitoring.`,
        ]);
        assert.deepStrictEqual(await violations(networkIsolation, plan, { [P]: { monitoringNamespaces: ["monitoring", "hanzo"] } }), [
            `${NP} admits the metrics port from the namespace; admit only monitoring, hanzo.`,
        ]);
    });
});
