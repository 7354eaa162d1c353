import * as assert from "assert";
import { backupAlerts, backupDatabaseAlerts, serverAlerts } from "../../render/alerts";
import { TYPES, ofType, planOf, planWith, resource } from "../support/plan";

const PROM_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";
const POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor";

describe("monitoring as declared (hanzo-k8s)", () => {
    it("creates the exporter's role: login, member of pg_monitor, nothing more", async () => {
        const plan = await planOf("hanzo-k8s");
        assert.deepStrictEqual(resource(plan, TYPES.role, "hanzo-sql-monitoring-role").inputs, {
            name: "hanzo_monitor",
            login: true,
            password: "[secret]",
            superuser: false,
            createDatabase: false,
            createRole: false,
            replication: false,
            bypassRowLevelSecurity: false,
            inherit: true,
            roles: ["pg_monitor"],
            // Its sessions resolve names in pg_catalog only, a setting no service can override (issue 21).
            searchPaths: ["pg_catalog", "pg_temp"],
        });
        assert.deepStrictEqual(resource(plan, TYPES.password, "hanzo-sql-postgres-monitor-password").inputs, {
            length: 32,
            special: false,
        });
    });

    it("scrapes the exporter with a PodMonitor and alerts with the standard's rules", async () => {
        const plan = await planOf("hanzo-k8s");
        const labels = { "app.kubernetes.io/part-of": "hanzo-sql", release: "kube-prometheus-stack" };
        assert.deepStrictEqual(resource(plan, POD_MONITOR, "hanzo-sql-monitoring-pod-monitor").inputs, {
            apiVersion: "monitoring.coreos.com/v1",
            kind: "PodMonitor",
            metadata: { name: "postgres", namespace: "hanzo", labels },
            spec: {
                selector: { matchLabels: { app: "postgres" } },
                podMetricsEndpoints: [{ port: "metrics", interval: "30s", scrapeTimeout: "10s" }],
            },
        });
        assert.deepStrictEqual(resource(plan, PROM_RULE, "hanzo-sql-monitoring-alerts").inputs, {
            apiVersion: "monitoring.coreos.com/v1",
            kind: "PrometheusRule",
            metadata: { name: "postgres-alerts", namespace: "hanzo", labels },
            spec: {
                groups: [
                    JSON.parse(JSON.stringify(serverAlerts({ namespace: "hanzo", job: "hanzo/postgres", volumeBytes: 50 * 2 ** 30 }))),
                ],
            },
        });
        assert.deepStrictEqual((resource(plan, PROM_RULE, "hanzo-sql-backups-alerts").inputs as any).spec, {
            groups: [
                JSON.parse(JSON.stringify(backupAlerts({ namespace: "hanzo", cronJob: "postgres-backup", periodSeconds: 21600 }))),
                JSON.parse(JSON.stringify(backupDatabaseAlerts({ namespace: "hanzo", periodSeconds: 21600, drillPeriodSeconds: 86400 }))),
            ],
        });
    });

    it("alerts on a database past 80% of the stack's own volume: the standard's 40GiB on 50Gi, 400GiB on 500Gi", async () => {
        const tooLarge = async (storageSize?: string) => {
            const plan = await planWith("sized", {
                environment: "prod",
                clusterName: "c",
                services: ["iam"],
                ...(storageSize ? { storageSize } : {}),
            });
            const group = (resource(plan, PROM_RULE, "hanzo-sql-monitoring-alerts").inputs as any).spec.groups[0];
            return group.rules.find((r: { alert: string }) => r.alert === "PostgresDatabaseTooLarge");
        };
        const standard = await tooLarge();
        assert.strictEqual(standard.expr, 'max by (namespace, pod, datname) (pg_database_size_bytes{namespace="hanzo"}) > 42949672960');
        assert.strictEqual(standard.annotations.summary, "A database is larger than 40GiB");
        const large = await tooLarge("500Gi");
        assert.strictEqual(large.expr, 'max by (namespace, pod, datname) (pg_database_size_bytes{namespace="hanzo"}) > 429496729600');
        assert.strictEqual(
            large.annotations.description,
            "Database {{ $labels.datname }} in {{ $labels.pod }} is larger than 400GiB, 80% of its 500GiB volume; grow the volume (storageSize) or prune data.",
        );
        assert.strictEqual((await tooLarge("45Gi")).annotations.summary, "A database is larger than 36GiB");
    });

    it("declares no exporter, role, monitor or rules when monitoring is off", async () => {
        const plan = await planWith("quiet", { environment: "prod", clusterName: "c", monitoringEnabled: false, services: ["iam"] });
        const sts = resource(plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any;
        assert.deepStrictEqual(
            sts.spec.template.spec.containers.map((c: { name: string }) => c.name),
            ["postgres"],
        );
        assert.deepStrictEqual([ofType(plan, POD_MONITOR).length, ofType(plan, PROM_RULE).length], [0, 0]);
        assert.strictEqual(ofType(plan, TYPES.role).filter((r) => r.inputs.name === "hanzo_monitor").length, 0);
        assert.strictEqual((resource(plan, TYPES.networkPolicy, "hanzo-sql-postgres-network-policy").inputs as any).spec.ingress.length, 1);
    });
});
