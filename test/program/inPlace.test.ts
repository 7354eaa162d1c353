import * as assert from "assert";
import { MUTABLE_CONFIGURATION } from "../../components/cluster";
import { configChecksum } from "../../components/postgresInstance";
import type { PlanResult, PlannedResource } from "../../cli/plan/runner";
import { POOLED } from "../support/config";
import { TYPES, ofType, planOf, planWith, resource } from "../support/plan";

/**
 * Configuration and credentials change in place (issue 22, point 4). pulumi-kubernetes replaces a Secret or
 * ConfigMap whose content changes unless the provider is configured with `enableSecretMutable` /
 * `enableConfigMapMutable` (`forceNewProperties`, provider/pkg/provider/diff.go), and a named object is
 * replaced delete-before-create, so its readers find it gone. With the flags it is updated; the pods that read
 * it at start then roll through a checksum annotation on their template, which changes with the content only.
 */
const BASE = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam", "cloud"] };
const SECRET = ["hanzo-sql:adminPassword"];
const WORKLOADS: readonly string[] = [TYPES.statefulSet, TYPES.deployment, TYPES.cronJob];

/** The pod template of a workload. */
function template(r: PlannedResource): any {
    const spec = r.inputs.spec as any;
    return spec.template ?? spec.jobTemplate.spec.template;
}

/** Every workload's pod template annotations, by Pulumi name. */
function annotations(plan: PlanResult): Record<string, Record<string, string>> {
    return Object.fromEntries(
        plan.plan.resources.filter((r) => WORKLOADS.includes(r.type)).map((r) => [r.name, template(r).metadata.annotations ?? {}]),
    );
}

/** The names of the Secrets and ConfigMaps a pod template reads: mounted volumes, env and envFrom. */
function readsByName(pod: any): string[] {
    const names = new Set<string>();
    for (const v of pod.spec.volumes ?? []) {
        if (v.configMap) names.add(`configmap/${v.configMap.name}`);
        if (v.secret) names.add(`secret/${v.secret.secretName}`);
        for (const s of v.projected?.sources ?? []) {
            if (s.configMap) names.add(`configmap/${s.configMap.name}`);
            if (s.secret) names.add(`secret/${s.secret.name}`);
        }
    }
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        for (const e of c.env ?? []) {
            if (e.valueFrom?.secretKeyRef) names.add(`secret/${e.valueFrom.secretKeyRef.name}`);
            if (e.valueFrom?.configMapKeyRef) names.add(`configmap/${e.valueFrom.configMapKeyRef.name}`);
        }
        for (const e of c.envFrom ?? []) {
            if (e.secretRef) names.add(`secret/${e.secretRef.name}`);
            if (e.configMapRef) names.add(`configmap/${e.configMapRef.name}`);
        }
    }
    return [...names].sort();
}

/** The annotations that differ between two plans' workloads: `<workload> <annotation>`. */
function changed(before: PlanResult, after: PlanResult): string[] {
    const a = annotations(before);
    const b = annotations(after);
    assert.deepStrictEqual(Object.keys(b).sort(), Object.keys(a).sort());
    return Object.keys(a)
        .flatMap((w) =>
            [...new Set([...Object.keys(a[w]), ...Object.keys(b[w])])].filter((k) => a[w][k] !== b[w][k]).map((k) => `${w} ${k}`),
        )
        .sort();
}

describe("configuration and credentials change in place", () => {
    it("builds the Kubernetes provider with mutable Secrets and ConfigMaps, for a DOKS cluster and for a kubeconfig context", async () => {
        assert.deepStrictEqual(MUTABLE_CONFIGURATION, { enableSecretMutable: true, enableConfigMapMutable: true });
        // The SDK passes a provider's boolean inputs to the engine as JSON strings.
        const doks = resource(await planOf("hanzo-k8s"), TYPES.k8sProvider, "hanzo-sql-k8s").inputs;
        assert.deepStrictEqual(doks, {
            clusterIdentifier: "plan-hanzo-k8s-cluster-id",
            enableConfigMapMutable: "true",
            enableSecretMutable: "true",
            kubeconfig: "[secret]",
        });
        const kind = resource(await planOf("dev"), TYPES.k8sProvider, "hanzo-sql-k8s").inputs;
        assert.deepStrictEqual(kind, {
            clusterIdentifier: "kind-hanzo",
            context: "kind-hanzo",
            enableConfigMapMutable: "true",
            enableSecretMutable: "true",
        });
    });

    it("covers every Secret and ConfigMap a long-running pod reads by name with a checksum of its content", async () => {
        const reads = (plan: PlanResult) =>
            Object.fromEntries(
                plan.plan.resources.filter((r) => WORKLOADS.includes(r.type)).map((r) => [r.name, readsByName(template(r))]),
            );
        const full = await planOf("hanzo-k8s");
        assert.deepStrictEqual(reads(full), {
            "hanzo-sql-postgres-statefulset": [
                "configmap/postgres-config",
                "configmap/postgres-exporter-queries",
                "secret/postgres-credentials",
                // A RandomPassword without keepers: its content never changes after the first `up`.
                "secret/postgres-monitor-credentials",
            ],
            // A CronJob starts a new pod for every run, which reads the objects as they are then.
            "hanzo-sql-backups-cronjob": ["configmap/postgres-backup-scripts", "secret/postgres-backup-credentials"],
            "hanzo-sql-backups-drill": ["configmap/postgres-backup-scripts", "secret/postgres-backup-credentials"],
        });
        const data = (plan: PlanResult, name: string) => resource(plan, TYPES.configMap, name).inputs.data as Record<string, string>;
        assert.deepStrictEqual(annotations(full)["hanzo-sql-postgres-statefulset"], {
            "hanzo.ai/config-checksum": configChecksum(data(full, "hanzo-sql-postgres-config")),
            "hanzo.ai/admin-password-checksum": annotations(full)["hanzo-sql-postgres-statefulset"]["hanzo.ai/admin-password-checksum"],
            "hanzo.ai/exporter-queries-checksum": configChecksum(data(full, "hanzo-sql-postgres-exporter-queries")),
        });
        assert.deepStrictEqual(annotations(full)["hanzo-sql-backups-cronjob"], {
            "hanzo.ai/scripts-checksum": configChecksum(data(full, "hanzo-sql-backups-scripts")),
        });
        const pooled = await planWith("hanzo-k8s", POOLED);
        assert.deepStrictEqual(reads(pooled), {
            "hanzo-sql-postgres-statefulset": ["configmap/postgres-config", "secret/postgres-credentials"],
            "hanzo-sql-pgbouncer-deployment": ["configmap/pgbouncer-config", "secret/pgbouncer-userlist"],
        });
        assert.deepStrictEqual(Object.keys(annotations(pooled)["hanzo-sql-pgbouncer-deployment"]).sort(), [
            "hanzo.ai/config-checksum",
            "hanzo.ai/userlist-checksum",
        ]);
        // Without backups there are no extra queries, and no annotation for them.
        assert.deepStrictEqual(Object.keys(annotations(pooled)["hanzo-sql-postgres-statefulset"]).sort(), [
            "hanzo.ai/admin-password-checksum",
            "hanzo.ai/config-checksum",
        ]);
    });

    it("changes exactly the annotation whose content changed, and none when no content a pod reads changed", async () => {
        const base = await planWith("hanzo-k8s", { ...BASE, adminPassword: "first-admin-password-0123" }, SECRET);
        const at = (values: Record<string, unknown>) =>
            planWith("hanzo-k8s", { ...BASE, adminPassword: "first-admin-password-0123", ...values }, SECRET);
        // A change no pod reads at start: the backup schedule is the CronJob's, not its pod's.
        assert.deepStrictEqual(changed(base, await at({ backupSchedule: "0 */4 * * *" })), []);
        // A server setting: postgresql.conf only.
        assert.deepStrictEqual(changed(base, await at({ hnswEfSearch: 300 })), ["hanzo-sql-postgres-statefulset hanzo.ai/config-checksum"]);
        // The administrator's password: its Secret only.
        assert.deepStrictEqual(changed(base, await at({ adminPassword: "second-admin-password-4567" })), [
            "hanzo-sql-postgres-statefulset hanzo.ai/admin-password-checksum",
        ]);
        // PgBouncer: a pooled service's new password changes the userlist, a pool setting pgbouncer.ini.
        const pooledBase = await planWith("hanzo-k8s", POOLED);
        const rotated = POOLED.services.map((s) => (typeof s === "object" ? { ...s, passwordVersion: 2 } : s));
        assert.deepStrictEqual(changed(pooledBase, await planWith("hanzo-k8s", { ...POOLED, services: rotated })), [
            "hanzo-sql-pgbouncer-deployment hanzo.ai/userlist-checksum",
        ]);
        assert.deepStrictEqual(changed(pooledBase, await planWith("hanzo-k8s", { ...POOLED, poolMaxClientConn: 300 })), [
            "hanzo-sql-pgbouncer-deployment hanzo.ai/config-checksum",
        ]);
    });

    it("declares every Secret and ConfigMap of the program with a fixed name, so in-place updates keep the name readers use", async () => {
        for (const plan of [await planOf("hanzo-k8s"), await planWith("hanzo-k8s", POOLED)]) {
            for (const r of [...ofType(plan, TYPES.secret), ...ofType(plan, TYPES.configMap)]) {
                const metadata = r.inputs.metadata as any;
                assert.strictEqual(typeof metadata.name, "string", r.name);
                assert.strictEqual(metadata.generateName, undefined, r.name);
                assert.strictEqual((r.inputs as any).immutable, undefined, r.name); // diff.go: immutable still replaces
                assert.strictEqual((r.inputs as any).type ?? "Opaque", "Opaque", r.name); // .type stays replace-forcing
            }
        }
    });
});
