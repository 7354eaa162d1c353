import * as assert from "assert";
import { egressIsolation, networkIsolation } from "../../policies/network";
import { TYPE, add, find, inputs, planCopy, pooledPlanCopy, remove, violations } from "../support/policy";

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
            {
                from: [
                    { ipBlock: { cidr: "0.0.0.0/0" } },
                    { namespaceSelector: { matchLabels: { name: "hanzo" } } },
                    { namespaceSelector: {} },
                ],
                ports: [{ port: 5432 }],
            },
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

describe("egress-isolation", () => {
    const E = "egress-isolation";
    const SERVER = `${E}: hanzo-sql-postgres-statefulset (kubernetes:apps/v1:StatefulSet): StatefulSet "hanzo/postgres": no NetworkPolicy with Egress in its policyTypes selects its pods, so they can reach any address; add one that allows only what they need.`;
    const egressSpec = (plan: any, name: string) => inputs(find(plan, TYPE.networkPolicy, name)).spec;

    for (const stack of ["hanzo-k8s", "lux-k8s", "test", "staging", "dev"]) {
        it(`passes the ${stack} stack`, async () => {
            assert.deepStrictEqual(await violations(egressIsolation, await planCopy(stack)), []);
        });
    }

    it("passes a pooled stack (PgBouncer's Deployment)", async () => {
        const plan = await pooledPlanCopy();
        assert.deepStrictEqual(await violations(egressIsolation, plan), []);
    });

    it("rejects a workload no egress policy selects: none, another's, ingress only, or in another namespace", async () => {
        const plan = await planCopy();
        remove(plan, (r) => r.name === "hanzo-sql-postgres-egress");
        egressSpec(plan, "postgres-backup-egress").podSelector = { matchLabels: { "app.kubernetes.io/name": "other" } };
        egressSpec(plan, "postgres-restore-drill-egress").policyTypes = ["Ingress"];
        assert.deepStrictEqual(await violations(egressIsolation, plan), [
            SERVER,
            `${E}: hanzo-sql-backups-drill (kubernetes:batch/v1:CronJob): CronJob "hanzo/postgres-restore-drill": no NetworkPolicy with Egress in its policyTypes selects its pods, so they can reach any address; add one that allows only what they need.`,
            `${E}: hanzo-sql-backups-cronjob (kubernetes:batch/v1:CronJob): CronJob "hanzo/postgres-backup": no NetworkPolicy with Egress in its policyTypes selects its pods, so they can reach any address; add one that allows only what they need.`,
        ]);
        add(plan, TYPE.networkPolicy, "elsewhere", {
            metadata: { name: "elsewhere", namespace: "other" },
            spec: { podSelector: {}, policyTypes: ["Egress"] },
        });
        assert.strictEqual((await violations(egressIsolation, plan)).length, 3);
    });

    it("counts a policy without policyTypes as Egress when it has egress rules (the API's default), and selects by matchExpressions", async () => {
        const plan = await planCopy();
        remove(plan, (r) => r.name === "hanzo-sql-postgres-egress");
        const np = add(plan, TYPE.networkPolicy, "by-expression", {
            metadata: { name: "by-expression", namespace: "hanzo" },
            spec: { podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["postgres"] }] }, egress: [] },
        });
        assert.deepStrictEqual(await violations(egressIsolation, plan), []);
        delete (np.inputs as any).spec.egress;
        assert.deepStrictEqual(await violations(egressIsolation, plan), [SERVER]);
        (np.inputs as any).spec = {
            podSelector: { matchExpressions: [{ key: "app", operator: "NotIn", values: ["postgres"] }] },
            policyTypes: ["Egress"],
        };
        assert.deepStrictEqual(await violations(egressIsolation, plan), [SERVER]);
    });

    it("rejects a hand-written Pod that no egress policy selects", async () => {
        const plan = await planCopy();
        add(plan, "kubernetes:core/v1:Pod", "debug", {
            metadata: { name: "debug", namespace: "hanzo", labels: { app: "debug" } },
            spec: { containers: [{ name: "d", image: "busybox:1.36" }] },
        });
        assert.deepStrictEqual(await violations(egressIsolation, plan), [
            `${E}: debug (kubernetes:core/v1:Pod): Pod "hanzo/debug": no NetworkPolicy with Egress in its policyTypes selects its pods, so they can reach any address; add one that allows only what they need.`,
        ]);
    });
});
