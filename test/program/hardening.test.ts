import * as assert from "assert";
import { endpointTarget } from "../../render/egress";
import {
    LOOPBACK_NETWORKS,
    NON_PUBLIC_IPV4,
    NON_PUBLIC_IPV6,
    PRIVATE_NETWORKS,
    networkInside,
    networkProblem,
} from "../../policies/standard/network";
import { workloads } from "../harness/pod/plan";
import { TYPES, ofType, planOf, planWith, resource } from "../support/plan";
import { POOLED } from "../support/config";

const DNS = {
    to: [
        {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        },
    ],
    ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
    ],
};
const TO_SERVER = { to: [{ podSelector: { matchLabels: { app: "postgres" } } }], ports: [{ protocol: "TCP", port: 5432 }] };
const PUBLIC_443 = {
    to: [{ ipBlock: { cidr: "0.0.0.0/0", except: NON_PUBLIC_IPV4 } }, { ipBlock: { cidr: "::/0", except: NON_PUBLIC_IPV6 } }],
    ports: [{ protocol: "TCP", port: 443 }],
};

const specOf = (r: { inputs: Record<string, unknown> }) => (r.inputs as any).spec;

describe("workload hardening: a ServiceAccount per workload, no API token, egress NetworkPolicies", () => {
    it("hanzo-k8s: each workload runs as its own ServiceAccount, which mounts no token, and so says each pod", async () => {
        const plan = await planOf("hanzo-k8s");
        const accounts = ofType(plan, TYPES.serviceAccount);
        assert.deepStrictEqual(accounts.map((a) => [a.name, a.inputs]).sort(), [
            [
                "hanzo-sql-backups-cronjob-service-account",
                {
                    apiVersion: "v1",
                    kind: "ServiceAccount",
                    automountServiceAccountToken: false,
                    metadata: {
                        name: "postgres-backup",
                        namespace: "hanzo",
                        labels: { "app.kubernetes.io/name": "postgres-backup", "app.kubernetes.io/part-of": "hanzo-sql" },
                    },
                },
            ],
            [
                "hanzo-sql-backups-drill-service-account",
                {
                    apiVersion: "v1",
                    kind: "ServiceAccount",
                    automountServiceAccountToken: false,
                    metadata: {
                        name: "postgres-restore-drill",
                        namespace: "hanzo",
                        labels: { "app.kubernetes.io/name": "postgres-restore-drill", "app.kubernetes.io/part-of": "hanzo-sql" },
                    },
                },
            ],
            [
                "hanzo-sql-postgres-service-account",
                {
                    apiVersion: "v1",
                    kind: "ServiceAccount",
                    automountServiceAccountToken: false,
                    metadata: {
                        name: "postgres",
                        namespace: "hanzo",
                        labels: {
                            app: "postgres",
                            "app.kubernetes.io/name": "postgresql",
                            "app.kubernetes.io/instance": "postgres",
                            "app.kubernetes.io/part-of": "hanzo-sql",
                        },
                    },
                },
            ],
        ]);
        assert.deepStrictEqual(
            workloads(plan)
                .map((w) => [w.kind, w.name, w.spec.serviceAccountName, w.spec.automountServiceAccountToken])
                .sort(),
            [
                ["CronJob", "postgres-backup", "postgres-backup", false],
                ["CronJob", "postgres-restore-drill", "postgres-restore-drill", false],
                ["StatefulSet", "postgres", "postgres", false],
            ],
        );
        // Neither protected nor retained (only what holds data is), and children of their components.
        assert.ok(accounts.every((a) => !a.options.protect && !a.options.retainOnDelete));
    });

    it("a pooled stack: PgBouncer runs as its own ServiceAccount without a token", async () => {
        const plan = await planWith("pooled", POOLED);
        assert.deepStrictEqual(resource(plan, TYPES.serviceAccount, "hanzo-sql-pgbouncer-service-account").inputs, {
            apiVersion: "v1",
            kind: "ServiceAccount",
            automountServiceAccountToken: false,
            metadata: {
                name: "pgbouncer",
                namespace: "hanzo",
                labels: { app: "pgbouncer", "app.kubernetes.io/name": "pgbouncer", "app.kubernetes.io/part-of": "hanzo-sql" },
            },
        });
        assert.deepStrictEqual(
            workloads(plan).map((w) => [w.kind, w.name, w.spec.serviceAccountName, w.spec.automountServiceAccountToken]),
            [
                ["StatefulSet", "postgres", "postgres", false],
                ["Deployment", "pgbouncer", "pgbouncer", false],
            ],
        );
    });

    it("hanzo-k8s: the server (and its exporter sidecar) may resolve names and nothing else; backup and drill reach the server, Spaces on 443 and DNS", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual(specOf(resource(plan, TYPES.networkPolicy, "hanzo-sql-postgres-egress")), {
            podSelector: { matchLabels: { app: "postgres" } },
            policyTypes: ["Egress"],
            egress: [DNS],
        });
        for (const [resourceName, job] of [
            ["hanzo-sql-backups-cronjob-egress", "postgres-backup"],
            ["hanzo-sql-backups-drill-egress", "postgres-restore-drill"],
        ]) {
            const np = resource(plan, TYPES.networkPolicy, resourceName).inputs as any;
            assert.strictEqual(np.metadata.name, `${job}-egress`);
            assert.deepStrictEqual(np.spec, {
                podSelector: { matchLabels: { "app.kubernetes.io/name": job, "app.kubernetes.io/part-of": "hanzo-sql" } },
                policyTypes: ["Egress"],
                egress: [TO_SERVER, PUBLIC_443, DNS],
            });
        }
        // The metadata service and the cluster's own networks are out of the public rule.
        assert.ok(
            ["169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"].every((c) => NON_PUBLIC_IPV4.includes(c)),
        );
        // Every NetworkPolicy's podSelector selects the pods of exactly one workload.
        const policies = ofType(plan, TYPES.networkPolicy).map((r) => specOf(r));
        for (const w of workloads(plan)) {
            const selecting = policies.filter((p) => Object.entries(p.podSelector.matchLabels).every(([k, v]) => w.labels[k] === v));
            assert.ok(
                selecting.some((p) => p.policyTypes.includes("Egress")),
                `${w.kind} ${w.name}`,
            );
        }
    });

    it("a pooled stack: PgBouncer reaches the server on 5432 and DNS only", async () => {
        const plan = await planWith("pooled", POOLED);
        const np = resource(plan, TYPES.networkPolicy, "hanzo-sql-pgbouncer-egress").inputs as any;
        assert.strictEqual(np.metadata.name, "pgbouncer-egress");
        assert.deepStrictEqual(np.spec, {
            podSelector: { matchLabels: { app: "pgbouncer" } },
            policyTypes: ["Egress"],
            egress: [TO_SERVER, DNS],
        });
    });

    it("an in-cluster endpoint is reached in its namespace on its port; an IP endpoint at that address; every pod network a stack may name stays out of the public rule", async () => {
        const base = {
            environment: "prod",
            clusterName: "c",
            services: ["iam"],
            backupBucket: "pg-backups",
            backupAccessKeyId: "id",
            backupSecretAccessKey: "key",
        };
        const secrets = ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"];
        const bucketRule = async (values: Record<string, unknown>) =>
            specOf(
                resource(
                    await planWith("endpoint", { ...base, ...values }, secrets),
                    TYPES.networkPolicy,
                    "hanzo-sql-backups-cronjob-egress",
                ),
            ).egress[1];
        assert.deepStrictEqual(await bucketRule({ backupEndpoint: "http://minio.minio.svc:9000" }), {
            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "minio" } } }],
            ports: [{ protocol: "TCP", port: 9000 }],
        });
        assert.deepStrictEqual(await bucketRule({ backupEndpoint: "http://minio:9000" }), {
            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "hanzo" } } }],
            ports: [{ protocol: "TCP", port: 9000 }],
        });
        assert.deepStrictEqual(await bucketRule({ backupEndpoint: "https://10.110.0.5:9443" }), {
            to: [{ ipBlock: { cidr: "10.110.0.5/32" } }],
            ports: [{ protocol: "TCP", port: 9443 }],
        });
        assert.deepStrictEqual(await bucketRule({ backupEndpoint: "https://[fd00:10::5]:9000" }), {
            to: [{ ipBlock: { cidr: "fd00:10::5/128" } }],
            ports: [{ protocol: "TCP", port: 9000 }],
        });
        assert.deepStrictEqual(
            await bucketRule({ backupEndpoint: "https://s3.example.com", podNetworkCidrs: ["10.0.0.0/8", "fd00:10:244::/56"] }),
            {
                to: [{ ipBlock: { cidr: "0.0.0.0/0", except: NON_PUBLIC_IPV4 } }, { ipBlock: { cidr: "::/0", except: NON_PUBLIC_IPV6 } }],
                ports: [{ protocol: "TCP", port: 443 }],
            },
        );
        // The public rule needs no pod network of its own: whatever podNetworkCidrs admits lies inside what it excepts.
        for (const outer of [...PRIVATE_NETWORKS, ...LOOPBACK_NETWORKS]) {
            assert.ok(networkInside(outer, [...NON_PUBLIC_IPV4, ...NON_PUBLIC_IPV6]), outer);
        }
        for (const pods of ["10.244.0.0/16", "172.20.0.0/14", "100.64.0.0/10", "fd00:10:244::/56"]) {
            assert.strictEqual(networkProblem(pods), undefined, pods);
            assert.ok(networkInside(pods, [...NON_PUBLIC_IPV4, ...NON_PUBLIC_IPV6]), pods);
        }
    });

    it("reads a two-label host as an external name, not as <service>.<namespace>", () => {
        assert.deepStrictEqual(endpointTarget("http://example.com", "hanzo"), { host: "example.com", port: 80 });
        assert.deepStrictEqual(endpointTarget("https://nyc3.digitaloceanspaces.com", "hanzo"), {
            host: "nyc3.digitaloceanspaces.com",
            port: 443,
        });
        assert.deepStrictEqual(endpointTarget("http://minio.minio.svc.cluster.local:9000/", "hanzo"), {
            host: "minio.minio.svc.cluster.local",
            port: 9000,
            namespace: "minio",
        });
    });
});
