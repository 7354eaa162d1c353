import * as assert from "assert";
import { EngineStep, ModelResource, engineSteps } from "../../cli/plan/steps";
import { requiredCliVersion } from "../../cli/plan/stepsReport";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import type { PlanResult } from "../../cli/plan/runner";
import { TYPES, planWith } from "../support/plan";
import { seedLiveObjects } from "../support/seedLive";
import { restoredLiveObjects } from "../support/restoredLive";
import { serverTlsNames, sidecarScript, tlsServerScript } from "../../render/pitrPod";
import { pitrTlsMaterial } from "../../render/pitrTls";

/**
 * Every documented procedure as a transition through the engine-step model (cli/plan/steps.ts): the plan
 * before, the plan after, and the steps `pulumi up` takes between them on the CLI version the project requires
 * (Pulumi.yaml's requiredPulumiVersion). Each test asserts exactly the steps the docs describe, and two
 * invariants: no data-holding resource (the StatefulSet, a Database, the bucket) is replaced or deleted, and no
 * Secret or ConfigMap a workload reads by name is deleted, not even for a moment (a delete-before-replace).
 *
 * Plans are built with secrets revealed (the engine compares real values); a generated value is the mock's,
 * derived from the resource's name and keepers (cli/plan/runner.ts).
 */
const BASE = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam", "cloud"] };
const ADMIN = "the first admin password";
type Values = Record<string, unknown>;

/** Set as secrets (`pulumi config set --secret`), with a value the plan can compare (not a `secure:` placeholder). */
const SECRET_KEYS = ["hanzo-sql:adminPassword"];

function engineView(p: PlanResult): ModelResource[] {
    return p.plan.resources.map((r) => ({ ...r, inputs: p.revealed.get(r.urn)! }));
}

interface Outcome {
    readonly steps: EngineStep[];
    readonly before: PlanResult | undefined;
    readonly after: PlanResult;
}

/** The steps of `up` from the stack configured with `before` (undefined: an empty state) to `after`. */
async function transition(
    before: Values | undefined,
    after: Values,
    opts: { live?: ReturnType<typeof seedLiveObjects>; state?: (r: ModelResource) => ModelResource } = {},
): Promise<Outcome> {
    const a = before ? await planWith("hanzo-k8s", before, SECRET_KEYS) : undefined;
    const b = await planWith("hanzo-k8s", after, SECRET_KEYS);
    const steps = engineSteps({
        before: a ? engineView(a).map(opts.state ?? ((r) => r)) : [],
        after: engineView(b),
        live: opts.live,
        cliVersion: requiredCliVersion(PROJECT_DIR),
    });
    return { steps, before: a, after: b };
}

/** The path (as the step model names it) of an env variable's value in a StatefulSet's first (init) container, after. */
function expectEnvPath(o: Outcome, name: string, list: "containers" | "initContainers", env: string): string {
    const sts = engineView(o.after).find((r) => r.name === name)!.inputs as {
        spec: { template: { spec: Record<string, { env: { name: string }[] }[]> } };
    };
    const i = sts.spec.template.spec[list][0].env.findIndex((e) => e.name === env);
    assert.ok(i >= 0, `${env} in ${name}'s ${list}`);
    return `spec.template.spec.${list}[0].env[${i}].value`;
}

/** The steps that do something, by resource name (components left out: they hold nothing), sorted. */
function changes(o: Outcome): string[] {
    return o.steps
        .filter((s) => s.step !== "same" && !s.type.startsWith("hanzo-sql:"))
        .map((s) => {
            const how =
                s.step === "replace"
                    ? s.deleteBeforeReplace
                        ? "replace, delete first"
                        : "replace"
                    : s.step === "import" && s.thenUpdate
                      ? "import, update"
                      : s.step === "delete" && s.retained
                        ? "delete, retained"
                        : s.step;
            return `${s.name}: ${how}`;
        })
        .sort();
}

const DATA_HOLDER_TYPES: readonly string[] = [TYPES.statefulSet, TYPES.database, TYPES.spacesBucket];

/** Names of the Secrets and ConfigMaps a workload of the plan reads (env, envFrom, volumes), `namespace/name`. */
function readByName(p: PlanResult): Set<string> {
    const out = new Set<string>();
    const walk = (v: unknown, ns: string): void => {
        if (Array.isArray(v)) {
            v.forEach((x) => walk(x, ns));
        } else if (typeof v === "object" && v !== null) {
            const o = v as Record<string, unknown>;
            for (const [k, x] of Object.entries(o)) {
                const ref = x as Record<string, unknown> | undefined;
                if (
                    ["secretKeyRef", "configMapKeyRef", "secretRef", "configMapRef", "configMap"].includes(k) &&
                    typeof ref?.name === "string"
                ) {
                    out.add(`${ns}/${ref.name}`);
                }
                if (k === "secret" && typeof ref?.secretName === "string") {
                    out.add(`${ns}/${ref.secretName}`);
                }
                walk(x, ns);
            }
        }
    };
    for (const r of p.plan.resources.filter((x) =>
        [TYPES.statefulSet, TYPES.deployment, TYPES.cronJob, TYPES.job].includes(x.type as never),
    )) {
        const meta = (r.inputs.metadata ?? {}) as { namespace?: string };
        walk(r.inputs.spec, meta.namespace ?? "default");
    }
    return out;
}

/** The two invariants every procedure keeps. */
function assertSafe(o: Outcome): void {
    for (const s of o.steps.filter((x) => DATA_HOLDER_TYPES.includes(x.type))) {
        assert.ok(s.step !== "replace" && !(s.step === "delete" && !s.retained), `${s.name} holds data and would be ${s.step}d`);
    }
    const read = readByName(o.after);
    const objects = [...(o.before?.plan.resources ?? []), ...o.after.plan.resources].filter(
        (r) => r.type === TYPES.secret || r.type === TYPES.configMap,
    );
    for (const s of o.steps.filter((x) => x.type === TYPES.secret || x.type === TYPES.configMap)) {
        const r = objects.find((x) => x.urn === s.urn)!;
        const meta = r.inputs.metadata as { name: string; namespace: string };
        const key = `${meta.namespace}/${meta.name}`;
        if (read.has(key)) {
            assert.ok(
                !(s.step === "replace" && s.deleteBeforeReplace) && s.step !== "delete",
                `${key} is read by name by a workload, and ${s.name} would be deleted (${s.why})`,
            );
        }
    }
}

describe("documented procedures as engine transitions", function () {
    this.timeout(300_000);

    it("runs `up` on a CLI that imports then updates (requiredPulumiVersion at least 3.174)", () => {
        const v = requiredCliVersion(PROJECT_DIR);
        assert.ok(
            v !== undefined && /^3\.(1[7-9]\d|[2-9]\d\d)\./.test(v) && !/^3\.17[0-3]\./.test(v),
            `Pulumi.yaml requires ${v ?? "no version"}`,
        );
    });

    it("adopts the seed's deployment: imports every object it names, updates them, refuses nothing", async () => {
        const SERVICES = ["iam", "cloud"];
        const o = await transition(
            undefined,
            { ...BASE, adopt: true, adminPassword: ADMIN },
            { live: seedLiveObjects("the first admin password", SERVICES) },
        );
        const imported = o.steps.filter(
            (s) => s.step === "import" || (s.step === "refused" && o.after.plan.resources.find((r) => r.urn === s.urn)?.options.import),
        );
        assert.deepStrictEqual(
            imported
                .map((s) => `${s.name}: ${s.step}${s.thenUpdate ? ", update" : ""}${s.error ? ` (${s.error.split(";")[0]})` : ""}`)
                .sort(),
            [
                // Owner hanzo -> <service>_user (ALTER DATABASE … OWNER TO).
                "hanzo-sql-cloud-database: import, update",
                "hanzo-sql-cloud-role: import",
                "hanzo-sql-iam-database: import, update",
                "hanzo-sql-iam-role: import",
                // The scram-verifier key is added in place (enableSecretMutable).
                "hanzo-sql-postgres-credentials: import, update",
                "hanzo-sql-postgres-network-policy: import, update",
                "hanzo-sql-postgres-service: import, update",
                "hanzo-sql-postgres-statefulset: import, update",
            ],
        );
        assert.deepStrictEqual(
            o.steps.filter((s) => s.step === "refused").map((s) => `${s.name}: ${s.error}`),
            [],
        );
        assertSafe(o);
    });

    it("adopts a Service that is not headless without replacing it (its clusterIP is the API server's to keep)", async () => {
        const o = await transition(
            undefined,
            { ...BASE, adopt: true, adminPassword: ADMIN },
            { live: seedLiveObjects("the first admin password", ["iam", "cloud"], "10.245.0.17") },
        );
        const service = o.steps.find((s) => s.name === "hanzo-sql-postgres-service")!;
        assert.deepStrictEqual([service.step, service.thenUpdate, service.error], ["import", true, undefined]);
        assertSafe(o);
    });

    it("rotates a service's password: new password and salt (create-first), the role's verifier and its Secret in place", async () => {
        const o = await transition(BASE, { ...BASE, services: [{ name: "iam", passwordVersion: 2 }, "cloud"] });
        assert.deepStrictEqual(changes(o), [
            "hanzo-sql-iam-connection: update",
            "hanzo-sql-iam-password: replace",
            "hanzo-sql-iam-role-salt: replace",
            "hanzo-sql-iam-role: update",
        ]);
        assertSafe(o);
    });

    it("rotates the administrator's password: the admin Secret in place, the pod rolled by its checksum, the provider's password", async () => {
        const o = await transition({ ...BASE, adminPassword: ADMIN }, { ...BASE, adminPassword: "the second admin password" });
        assert.deepStrictEqual(changes(o), [
            "hanzo-sql-pg: update",
            "hanzo-sql-postgres-credentials: update",
            "hanzo-sql-postgres-statefulset: update",
        ]);
        assertSafe(o);
    });

    it("changes a server setting: the configuration in place, the pod rolled by its checksum", async () => {
        const o = await transition(BASE, { ...BASE, hnswEfSearch: 300 });
        assert.deepStrictEqual(changes(o), ["hanzo-sql-postgres-config: update", "hanzo-sql-postgres-statefulset: update"]);
        assertSafe(o);
    });

    it("changes the image and the extension versions: the StatefulSet rolls, each database's extension is updated", async () => {
        const o = await transition(BASE, { ...BASE, image: "pgvector/pgvector:0.8.1-pg16", extensionVersions: { vector: "0.8.1" } });
        assert.deepStrictEqual(changes(o), [
            "hanzo-sql-cloud-ext-vector: update",
            "hanzo-sql-iam-ext-vector: update",
            "hanzo-sql-postgres-statefulset: update",
            "hanzo-sql-template1-ext-vector: update",
        ]);
        assertSafe(o);
    });

    it("grows the disk: the claim patch and the size alert, and the StatefulSet does not see its template", async () => {
        const o = await transition({ ...BASE, storageSizeApplied: "50Gi" }, { ...BASE, storageSize: "100Gi", storageSizeApplied: "50Gi" });
        assert.deepStrictEqual(changes(o), ["hanzo-sql-monitoring-alerts: update", "hanzo-sql-postgres-data-claim: update"]);
        assertSafe(o);
    });

    it("renames a service: role and database renamed in place, objects inside retained, its Secret recreated under the new name", async () => {
        const o = await transition(BASE, { ...BASE, services: [{ name: "identity", renamedFrom: "iam" }, "cloud"] });
        assert.deepStrictEqual(changes(o), [
            // The backup scripts list the databases by name.
            "hanzo-sql-backups-connect-identity: replace",
            "hanzo-sql-backups-cronjob: update",
            "hanzo-sql-backups-drill: update",
            "hanzo-sql-backups-scripts: update",
            "hanzo-sql-identity-connection: replace",
            "hanzo-sql-identity-database: update",
            "hanzo-sql-identity-ext-pg_stat_statements: replace",
            "hanzo-sql-identity-ext-pg_trgm: replace",
            "hanzo-sql-identity-ext-uuid-ossp: replace",
            "hanzo-sql-identity-ext-vector: replace",
            "hanzo-sql-identity-revoke-public: replace",
            "hanzo-sql-identity-role: update",
        ]);
        // Every replacement inside the renamed database is create-first, and the old one is retained on delete.
        for (const s of o.steps.filter((x) => x.step === "replace" && x.type !== TYPES.secret)) {
            assert.strictEqual(s.deleteBeforeReplace, false, s.name);
            assert.strictEqual(o.after.plan.resources.find((r) => r.urn === s.urn)?.options.retainOnDelete, true, s.name);
        }
        // Its owner is the renamed role: the same role under its new name.
        assert.deepStrictEqual(o.steps.find((s) => s.name === "hanzo-sql-identity-database")?.changed, ["name", "owner"]);
        assertSafe(o);
    });

    it("removes a service once its database is unprotected in state: the database stays (retained), the rest goes", async () => {
        const unprotect = (r: ModelResource) =>
            r.name === "hanzo-sql-cloud-database" ? { ...r, options: { ...r.options, protect: false } } : r;
        const o = await transition(BASE, { ...BASE, services: ["iam"] }, { state: unprotect });
        assert.deepStrictEqual(changes(o), [
            "hanzo-sql-backups-connect-cloud: delete",
            "hanzo-sql-backups-cronjob: update",
            "hanzo-sql-backups-drill: update",
            "hanzo-sql-backups-scripts: update",
            "hanzo-sql-cloud-connection: delete",
            "hanzo-sql-cloud-database: delete, retained",
            "hanzo-sql-cloud-ext-pg_stat_statements: delete",
            "hanzo-sql-cloud-ext-pg_trgm: delete",
            "hanzo-sql-cloud-ext-uuid-ossp: delete",
            "hanzo-sql-cloud-ext-vector: delete",
            "hanzo-sql-cloud-password: delete",
            "hanzo-sql-cloud-revoke-public: delete",
            "hanzo-sql-cloud-role-salt: delete",
            "hanzo-sql-cloud-role: delete",
        ]);
        assertSafe(o);
        // Without the documented `pulumi state unprotect`, `up` stops at the database.
        const stopped = await transition(BASE, { ...BASE, services: ["iam"] });
        assert.deepStrictEqual(
            stopped.steps.filter((s) => s.step === "refused").map((s) => s.name),
            ["hanzo-sql-cloud-database"],
        );
    });

    it("turns pooling on and off: PgBouncer's objects come and go, the pooled service's Secret changes in place", async () => {
        const off = BASE;
        const on = { ...BASE, poolingEnabled: true, services: [{ name: "iam", pooled: true }, "cloud"] };
        const pgbouncer = [
            "hanzo-sql-pgbouncer-config",
            "hanzo-sql-pgbouncer-deployment",
            "hanzo-sql-pgbouncer-egress",
            "hanzo-sql-pgbouncer-network-policy",
            "hanzo-sql-pgbouncer-service",
            "hanzo-sql-pgbouncer-service-account",
            "hanzo-sql-pgbouncer-userlist",
        ];
        const up = await transition(off, on);
        assert.deepStrictEqual(changes(up), ["hanzo-sql-iam-connection: update", ...pgbouncer.map((n) => `${n}: create`)].sort());
        assertSafe(up);
        const down = await transition(on, off);
        assert.deepStrictEqual(changes(down), ["hanzo-sql-iam-connection: update", ...pgbouncer.map((n) => `${n}: delete`)].sort());
        assertSafe(down);
    });

    it("turns monitoring off and on: the exporter sidecar leaves and returns with its objects, the server is updated", async () => {
        const monitoring = [
            "hanzo-sql-backups-alerts",
            "hanzo-sql-monitoring-alerts",
            "hanzo-sql-monitoring-connect-postgres",
            "hanzo-sql-monitoring-pod-monitor",
            "hanzo-sql-monitoring-role",
            "hanzo-sql-monitoring-role-salt",
            "hanzo-sql-postgres-exporter-queries",
            "hanzo-sql-postgres-monitor-credentials",
            "hanzo-sql-postgres-monitor-password",
        ];
        const off = await transition(BASE, { ...BASE, monitoringEnabled: false });
        const server = ["hanzo-sql-postgres-network-policy: update", "hanzo-sql-postgres-statefulset: update"];
        assert.deepStrictEqual(changes(off), [...server, ...monitoring.map((n) => `${n}: delete`)].sort());
        assertSafe(off);
        const on = await transition({ ...BASE, monitoringEnabled: false }, BASE);
        assert.deepStrictEqual(changes(on), [...server, ...monitoring.map((n) => `${n}: create`)].sort());
        assertSafe(on);
    });

    it("turns KMS sync on and off for a service: only its sync resource comes and goes", async () => {
        const on = { ...BASE, kmsEnabled: true, kmsProjectSlug: "hanzo-prod", services: [{ name: "iam", kmsSync: true }, "cloud"] };
        const up = await transition(BASE, on);
        assert.deepStrictEqual(changes(up), ["hanzo-sql-iam-kms-sync: create"]);
        assertSafe(up);
        const down = await transition(on, BASE);
        assert.deepStrictEqual(changes(down), ["hanzo-sql-iam-kms-sync: delete"]);
        assertSafe(down);
    });

    it("turns backups off and on: the jobs and their objects go and come, and the protected bucket stops `up` until it is unprotected", async () => {
        const off = await transition(BASE, { ...BASE, backupEnabled: false });
        assert.deepStrictEqual(
            off.steps.filter((s) => s.step === "refused").map((s) => `${s.name}: ${s.error}`),
            [
                'hanzo-sql-backups-bucket: resource "urn:pulumi:hanzo-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:PostgresBackups$digitalocean:index/spacesBucket:SpacesBucket::hanzo-sql-backups-bucket" cannot be deleted because it is protected',
            ],
        );
        assertSafe(off);
        const unprotect = (r: ModelResource) => (r.type === TYPES.spacesBucket ? { ...r, options: { ...r.options, protect: false } } : r);
        const offUnprotected = await transition(BASE, { ...BASE, backupEnabled: false }, { state: unprotect });
        assert.ok(changes(offUnprotected).includes("hanzo-sql-backups-bucket: delete, retained"));
        assert.deepStrictEqual(
            offUnprotected.steps.filter((s) => s.step === "refused"),
            [],
        );
        assertSafe(offUnprotected);
        const on = await transition({ ...BASE, backupEnabled: false }, BASE);
        assert.deepStrictEqual(
            on.steps.filter((s) => s.step === "refused" || s.step === "replace" || s.step === "delete"),
            [],
        );
        assertSafe(on);
    });

    /** The stack's state before the role label (issue 24): the primary's pod template and Service without it. */
    const withoutRoleLabel = (r: ModelResource): ModelResource => {
        const i = JSON.parse(JSON.stringify(r.inputs));
        if (r.name === "hanzo-sql-postgres-statefulset") {
            delete i.spec.template.metadata.labels["hanzo.ai/role"];
        } else if (r.name === "hanzo-sql-postgres-service") {
            delete i.spec.selector["hanzo.ai/role"];
        } else {
            return r;
        }
        return { ...r, inputs: i };
    };
    const STANDBY_OBJECTS = [
        "hanzo-sql-replication-role-password",
        "hanzo-sql-replication-role-salt",
        "hanzo-sql-replication-role",
        "hanzo-sql-replication-secret",
        "hanzo-sql-standbys-data-claim-0",
        "hanzo-sql-standbys-read-service",
        "hanzo-sql-standbys-replication-egress",
        "hanzo-sql-standbys-service-account",
    ];

    it("lands the role label on a running stack (and an adopted one): the primary rolls once, the Service's selector in place", async () => {
        for (const config of [BASE, { ...BASE, adopt: true, adminPassword: ADMIN }]) {
            const o = await transition(config, config, { state: withoutRoleLabel });
            assert.deepStrictEqual(changes(o), ["hanzo-sql-postgres-service: update", "hanzo-sql-postgres-statefulset: update"]);
            assert.deepStrictEqual(o.steps.find((s) => s.name === "hanzo-sql-postgres-statefulset")?.changed, [
                "spec.template.metadata.labels.hanzo.ai/role",
            ]);
            assert.deepStrictEqual(o.steps.find((s) => s.name === "hanzo-sql-postgres-service")?.changed, ["spec.selector.hanzo.ai/role"]);
            assertSafe(o);
        }
    });

    it("adds a standby: its objects are created, the primary rolls once (start script, settings), Secrets change in place", async () => {
        const o = await transition(BASE, { ...BASE, standbys: 1 });
        assert.deepStrictEqual(
            changes(o),
            [
                // DATABASE_READ_URL and DB_READ_* (render/connection.ts).
                "hanzo-sql-cloud-connection: update",
                "hanzo-sql-iam-connection: update",
                // The replication alerts and their exporter queries (render/replicationAlerts.ts).
                "hanzo-sql-monitoring-alerts: update",
                "hanzo-sql-postgres-exporter-queries: update",
                // The replication settings, the start and readiness scripts.
                "hanzo-sql-postgres-config: update",
                // pg_rewind's pgpass line.
                "hanzo-sql-postgres-credentials: update",
                "hanzo-sql-postgres-statefulset: update",
                ...STANDBY_OBJECTS.map((n) => `${n}: create`),
                "hanzo-sql-standbys-statefulset: create",
            ].sort(),
        );
        // The primary's StatefulSet changes in its pod template only: never a replacement.
        const changed = o.steps.find((s) => s.name === "hanzo-sql-postgres-statefulset")!.changed!;
        assert.ok(changed.length > 0);
        assert.deepStrictEqual(
            changed.filter((p) => !p.startsWith("spec.template.")),
            [],
        );
        assertSafe(o);
    });

    it("adds a second standby: the StatefulSet scales, its claim is grown, the primary rolls for the new settings", async () => {
        const o = await transition({ ...BASE, standbys: 1 }, { ...BASE, standbys: 2 });
        assert.deepStrictEqual(changes(o), [
            // PostgresStandbyMissing compares the streaming count with the standbys the stack declares.
            "hanzo-sql-monitoring-alerts: update",
            "hanzo-sql-postgres-config: update",
            "hanzo-sql-postgres-statefulset: update",
            "hanzo-sql-standbys-data-claim-1: create",
            "hanzo-sql-standbys-statefulset: update",
        ]);
        assertSafe(o);
    });

    it("removes the second standby: the standbys' StatefulSet scales and its pods' DECLARED_STANDBYS changes (the slot drop), the primary's too", async () => {
        const o = await transition({ ...BASE, standbys: 2 }, { ...BASE, standbys: 1 });
        assert.deepStrictEqual(changes(o), [
            "hanzo-sql-monitoring-alerts: update",
            "hanzo-sql-postgres-config: update",
            "hanzo-sql-postgres-statefulset: update",
            // Retained: a claim patch is only forgotten.
            "hanzo-sql-standbys-data-claim-1: delete, retained",
            "hanzo-sql-standbys-statefulset: update",
        ]);
        const changed = (name: string) => o.steps.find((s) => s.name === name)!.changed!;
        // The StatefulSet controller removes postgres-standby-1 before it rolls postgres-standby-0 (scaling before
        // updates), whose start script then drops postgres_standby_1 on the primary (render/scripts/replica-start.sh).
        const standbyEnv = changed("hanzo-sql-standbys-statefulset").filter((p) => p === "spec.replicas" || /\.env\[\d+\]\.value$/.test(p));
        assert.deepStrictEqual(standbyEnv, [
            "spec.replicas",
            expectEnvPath(o, "hanzo-sql-standbys-statefulset", "containers", "DECLARED_STANDBYS"),
        ]);
        // The primary's init container and start script learn the new count as well.
        assert.deepStrictEqual(
            changed("hanzo-sql-postgres-statefulset").filter((p) => /\.env\[\d+\]\.value$/.test(p)),
            [
                expectEnvPath(o, "hanzo-sql-postgres-statefulset", "containers", "DECLARED_STANDBYS"),
                expectEnvPath(o, "hanzo-sql-postgres-statefulset", "initContainers", "DECLARED_STANDBYS"),
            ].sort(),
        );
        assertSafe(o);
    });

    it("adds a standby to a pooled stack: PgBouncer gains the read-only pools in place (its pods roll), nothing replaced", async () => {
        const pooled = { ...BASE, poolingEnabled: true, services: [{ name: "iam", pooled: true }, "cloud"] };
        const o = await transition(pooled, { ...pooled, standbys: 1 });
        assert.deepStrictEqual(
            changes(o),
            [
                "hanzo-sql-cloud-connection: update",
                "hanzo-sql-iam-connection: update",
                "hanzo-sql-monitoring-alerts: update",
                "hanzo-sql-postgres-exporter-queries: update",
                "hanzo-sql-postgres-config: update",
                "hanzo-sql-postgres-credentials: update",
                "hanzo-sql-postgres-statefulset: update",
                // `iam-ro` in pgbouncer.ini (docs/standbys.md "Reads"); the Deployment rolls by the config's checksum.
                "hanzo-sql-pgbouncer-config: update",
                "hanzo-sql-pgbouncer-deployment: update",
                ...STANDBY_OBJECTS.map((n) => `${n}: create`),
                "hanzo-sql-standbys-statefulset: create",
            ].sort(),
        );
        assert.deepStrictEqual(o.steps.find((s) => s.name === "hanzo-sql-pgbouncer-config")?.changed, ["data.pgbouncer.ini"]);
        assert.deepStrictEqual(o.steps.find((s) => s.name === "hanzo-sql-pgbouncer-deployment")?.changed, [
            "spec.template.metadata.annotations.hanzo.ai/config-checksum",
        ]);
        assertSafe(o);
    });

    it("removes the standbys: protect stops `up` at their StatefulSet; unprotected, it is retained and the rest goes", async () => {
        const one = { ...BASE, standbys: 1 };
        const stopped = await transition(one, BASE);
        assert.deepStrictEqual(
            stopped.steps.filter((s) => s.step === "refused").map((s) => `${s.name}: ${s.error}`),
            [
                'hanzo-sql-standbys-statefulset: resource "urn:pulumi:hanzo-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:PostgresStandbys$kubernetes:apps/v1:StatefulSet::hanzo-sql-standbys-statefulset" cannot be deleted because it is protected',
            ],
        );
        const unprotect = (r: ModelResource) =>
            r.name === "hanzo-sql-standbys-statefulset" ? { ...r, options: { ...r.options, protect: false } } : r;
        const o = await transition(one, BASE, { state: unprotect });
        assert.deepStrictEqual(
            changes(o),
            [
                "hanzo-sql-cloud-connection: update",
                "hanzo-sql-iam-connection: update",
                "hanzo-sql-monitoring-alerts: update",
                "hanzo-sql-postgres-config: update",
                "hanzo-sql-postgres-credentials: update",
                "hanzo-sql-postgres-exporter-queries: update",
                "hanzo-sql-postgres-statefulset: update",
                ...STANDBY_OBJECTS.map((n) => `${n}: delete`),
                // Retained: the StatefulSet stays in the cluster until it is deleted by hand (docs/standbys.md), and
                // its claims outlive it (persistentVolumeClaimRetentionPolicy Retain). The standbys' slots go when the
                // primary rolls (postgres-statefulset: update): its init container, with no DECLARED_STANDBYS (0) and
                // no standby Ready behind postgres-ro, drops them (render/adminPassword.ts).
                "hanzo-sql-standbys-statefulset: delete, retained",
            ]
                .map((n) => (n === "hanzo-sql-standbys-data-claim-0: delete" ? "hanzo-sql-standbys-data-claim-0: delete, retained" : n))
                .sort(),
        );
        assertSafe(o);
    });

    it("gives the seed-adopted stack a standby: nothing imported is replaced, no Secret a reader names is deleted", async () => {
        const adopted = { ...BASE, adopt: true, adminPassword: ADMIN };
        const o = await transition(adopted, { ...adopted, standbys: 1 });
        assert.deepStrictEqual(
            changes(o),
            [
                "hanzo-sql-monitoring-alerts: update",
                "hanzo-sql-postgres-config: update",
                "hanzo-sql-postgres-credentials: update",
                "hanzo-sql-postgres-exporter-queries: update",
                "hanzo-sql-postgres-statefulset: update",
                ...STANDBY_OBJECTS.map((n) => `${n}: create`),
                "hanzo-sql-standbys-statefulset: create",
            ].sort(),
        );
        assert.deepStrictEqual(
            o.steps.filter((s) => s.step === "refused"),
            [],
        );
        assertSafe(o);
    });

    it("refuses a new bucket name: replaceOnChanges makes it a replacement, which protect stops before anything changes", async () => {
        const o = await transition(BASE, { ...BASE, backupBucket: "hanzo-k8s-postgres-backups-2" });
        assert.deepStrictEqual(
            o.steps.filter((s) => s.step === "refused").map((s) => [s.name, s.replaceKeys]),
            [["hanzo-sql-backups-bucket", ["name"]]],
        );
        assertSafe(o);
    });
    // What turning point-in-time recovery on creates and updates (docs/pitr.md).
    const archive = [
        "hanzo-sql-archive-backup-egress",
        "hanzo-sql-archive-client-tls",
        "hanzo-sql-archive-config",
        "hanzo-sql-archive-credentials",
        "hanzo-sql-archive-diff",
        "hanzo-sql-archive-diff-service-account",
        "hanzo-sql-archive-full",
        "hanzo-sql-archive-full-service-account",
        "hanzo-sql-archive-server-egress",
        "hanzo-sql-archive-server-ingress",
        "hanzo-sql-archive-server-tls",
        "hanzo-sql-archive-tls-seed",
    ];
    // The rendered postgresql.conf gains the archive settings (ConfigMap in place), the pod its sidecar and
    // mounts (StatefulSet in place, rolled by the checksum).
    // The exporter's queries gain the drill's restore time (their ConfigMap in place; the pod rolls anyway).
    const server = [
        "hanzo-sql-postgres-config: update",
        "hanzo-sql-postgres-exporter-queries: update",
        "hanzo-sql-postgres-statefulset: update",
    ];
    // The drill restores the archive too: its CronJob gains the pitr-drill init container, the scripts'
    // ConfigMap its two files, the PrometheusRule its group, all in place; the dump CronJob mounts the same
    // scripts and follows their checksum (in place).
    const drill = [
        "hanzo-sql-backups-alerts: update",
        "hanzo-sql-backups-cronjob: update",
        "hanzo-sql-backups-drill: update",
        "hanzo-sql-backups-scripts: update",
    ];
    it("turns point-in-time recovery on and off (docs/pitr.md): the archive's objects come and go, the server and the drill are updated in place", async () => {
        const image = { ...BASE, image: "ghcr.io/hanzoai/sql:16-bookworm" };
        const on = await transition(image, { ...image, pitrEnabled: true });
        assert.deepStrictEqual(changes(on), [...server, ...drill, ...archive.map((n) => `${n}: create`)].sort());
        assertSafe(on);
        const off = await transition({ ...image, pitrEnabled: true }, image);
        assert.deepStrictEqual(changes(off), [...server, ...drill, ...archive.map((n) => `${n}: delete`)].sort());
        assertSafe(off);
        // An adopted server (PGDATA at the volume's root, item 7 of issue 23) the same way, once adopted.
        const adopted = { ...image, adopt: true, adminPassword: ADMIN };
        const onAdopted = await transition(adopted, { ...adopted, pitrEnabled: true });
        assert.deepStrictEqual(changes(onAdopted), [...server, ...drill, ...archive.map((n) => `${n}: create`)].sort());
        assertSafe(onAdopted);
    });

    it("turns point-in-time recovery on in a stack with standbys: the same objects, and the standbys' pods gain the sidecar in place", async () => {
        const standbys = { ...BASE, image: "ghcr.io/hanzoai/sql:16-bookworm", standbys: 1 };
        const o = await transition(standbys, { ...standbys, pitrEnabled: true });
        assert.deepStrictEqual(
            changes(o),
            [...server, ...drill, ...archive.map((n) => `${n}: create`), "hanzo-sql-standbys-statefulset: update"].sort(),
        );
        // The standbys' StatefulSet changes in its pod template only (the sidecar, its mounts): never a replacement.
        const changed = o.steps.find((s) => s.name === "hanzo-sql-standbys-statefulset")!.changed!;
        assert.deepStrictEqual(
            changed.filter((p) => !p.startsWith("spec.template.")),
            [],
        );
        assertSafe(o);
    });

    it("adds a standby to a stack with point-in-time recovery: the standby's objects, and the backups' file and CronJobs in place", async () => {
        const pitr = { ...BASE, image: "ghcr.io/hanzoai/sql:16-bookworm", pitrEnabled: true };
        const o = await transition(pitr, { ...pitr, standbys: 1 });
        assert.deepStrictEqual(
            changes(o),
            [
                // pg2 (the standbys' Service) and backup-standby=y in the Jobs' file; the CronJobs' script and checksum.
                "hanzo-sql-archive-config: update",
                "hanzo-sql-archive-diff: update",
                "hanzo-sql-archive-full: update",
                // As "adds a standby" above.
                "hanzo-sql-cloud-connection: update",
                "hanzo-sql-iam-connection: update",
                "hanzo-sql-monitoring-alerts: update",
                "hanzo-sql-postgres-config: update",
                "hanzo-sql-postgres-credentials: update",
                "hanzo-sql-postgres-exporter-queries: update",
                "hanzo-sql-postgres-statefulset: update",
                ...STANDBY_OBJECTS.map((n) => `${n}: create`),
                "hanzo-sql-standbys-statefulset: create",
            ].sort(),
        );
        // The certificates name both Services in every stack: a standby changes neither TLS Secret.
        assertSafe(o);
    });

    // A changed server certificate (this change's rename from `postgres-0.postgres.<ns>.svc` to the Services; a
    // rotation) on a stack that archives: the Secret changes in place and the running sidecars serve it, reloaded
    // (render/pitrPod.ts tlsServerScript, proven on pgBackRest 2.45 in test/db/pitrCertReload.test.ts).
    const withServerCert = (r: ModelResource, files: Record<string, string>): ModelResource =>
        r.name === "hanzo-sql-archive-server-tls"
            ? { ...r, inputs: { ...r.inputs, stringData: { ...(r.inputs.stringData as Record<string, string>), ...files } } }
            : r;
    const withClientCert = (r: ModelResource, files: Record<string, string>): ModelResource =>
        r.name === "hanzo-sql-archive-client-tls" ? { ...r, inputs: { ...r.inputs, stringData: files } } : r;
    /** The sidecar's script before the reload: the key copied first, then `exec pgbackrest … server` alone. */
    const withoutReload = (r: ModelResource): ModelResource => {
        if (r.type !== TYPES.statefulSet) {
            return r;
        }
        const inputs = JSON.parse(JSON.stringify(r.inputs)) as {
            spec: { template: { spec: { containers: { name: string; command: string[] }[] } } };
        };
        const sidecar = inputs.spec.template.spec.containers.find((c) => c.name === "pgbackrest")!;
        const script = sidecarScript();
        assert.strictEqual(sidecar.command[2], script);
        const lines = script.split("\n");
        const serve = tlsServerScript();
        const loop = lines.slice(1, lines.length - serve.length);
        sidecar.command[2] = [
            lines[0],
            "(umask 077 && cat /etc/pgbackrest-tls/tls.key > /etc/pgbackrest-key/tls.key) || exit 1",
            ...loop,
            serve[serve.length - 1],
        ].join("\n");
        return { ...r, inputs };
    };
    it("a server certificate whose names change under a running archiving stack, whose sidecar predates the reload: the Secret and the sidecar's script in place", async () => {
        // The shape main runs (pitr without standbys; the two together were refused there). The state's certificate
        // named the first pod, as an intermediate branch's did (same seed: the CA and the key stay, only tls.crt
        // differs). The real landing of this branch from main changes no certificate: `npm run plan -- --from`
        // of main's plan for such a stack (docs/pitr.md "Certificates") lists the steps.
        const pitr = { ...BASE, image: "ghcr.io/hanzoai/sql:16-bookworm", pitrEnabled: true };
        const old = {
            "tls.crt": pitrTlsMaterial("the seed in the state".padEnd(64, "x"), ["postgres-0.postgres.hanzo.svc"]).server["tls.crt"],
        };
        const o = await transition(pitr, pitr, { state: (r) => withoutReload(withServerCert(r, old)) });
        assert.deepStrictEqual(changes(o), ["hanzo-sql-archive-server-tls: update", "hanzo-sql-postgres-statefulset: update"]);
        // The StatefulSet rolls once for the sidecar's new script (its pod starts on the renamed certificate);
        // nothing outside the pod template changes: never a replacement.
        for (const name of ["hanzo-sql-postgres-statefulset"]) {
            const step = o.steps.find((s) => s.name === name)!;
            assert.strictEqual(step.step, "update");
            assert.deepStrictEqual(
                step.changed!.filter((p) => !/^spec\.template\.spec\.containers\[\d+\]\.command\[2\]$/.test(p)),
                [],
                name,
            );
        }
        assert.deepStrictEqual(o.steps.find((s) => s.name === "hanzo-sql-archive-server-tls")!.changed, ["data.tls.crt"]);
        assertSafe(o);
    });

    it("rotates the certificates (a new seed) on a stack that archives: both TLS Secrets in place, the servers' pods untouched", async () => {
        const pitr = { ...BASE, image: "ghcr.io/hanzoai/sql:16-bookworm", pitrEnabled: true, standbys: 1 };
        const before = pitrTlsMaterial("the seed before the rotation".padEnd(64, "x"), serverTlsNames("postgres", "postgres-ro", "hanzo"));
        const o = await transition(pitr, pitr, { state: (r) => withClientCert(withServerCert(r, before.server), before.client) });
        // No StatefulSet changes: PostgreSQL keeps running; each sidecar sees its Secret's new files and reloads.
        assert.deepStrictEqual(changes(o), ["hanzo-sql-archive-client-tls: update", "hanzo-sql-archive-server-tls: update"]);
        assertSafe(o);
    });

    it("bootstraps a new stack from another stack's archive (docs/pitr.md): one up restores, imports what the restore brought, creates the rest", async () => {
        const pitr = { ...BASE, image: "ghcr.io/hanzoai/sql:16-bookworm", pitrEnabled: true };
        // The source had iam; the new stack names iam and cloud.
        const restored = { roles: ["hanzo_backup", "hanzo_monitor", "iam_user"], databases: ["iam"] };
        const from = { bucket: "hanzo-k8s-postgres-backups", path: "/postgres-pitr", time: "2026-12-05 02:30:00+00", restored };
        const boot = { ...pitr, pitrBootstrapFrom: from };
        const source = await planWith("hanzo-k8s", { ...pitr, services: ["iam"] }, SECRET_KEYS);
        const live = restoredLiveObjects(source, restored);

        // The first up of the new stack: everything is created (the StatefulSet runs the restore step before it is
        // Ready; the postgresql provider connects only then); what the restore brought is imported and each role
        // updated to this stack's password, in the same up; cloud, which the source lacked, is created.
        const first = await transition(undefined, boot, { live });
        const pg = first.steps
            .filter((s) => s.type === TYPES.role || s.type === TYPES.database)
            .map((s) => `${s.name}: ${s.step}${s.thenUpdate ? ", update" : ""}`)
            .sort();
        assert.deepStrictEqual(pg, [
            "hanzo-sql-backups-role: import, update",
            "hanzo-sql-cloud-database: create",
            "hanzo-sql-cloud-role: create",
            "hanzo-sql-iam-database: import",
            "hanzo-sql-iam-role: import, update",
            "hanzo-sql-monitoring-role: import, update",
        ]);
        assert.deepStrictEqual(
            first.steps.filter((s) => s.step === "refused").map((s) => `${s.name}: ${s.error}`),
            [],
        );
        assert.ok(first.steps.find((s) => s.name === "hanzo-sql-pitr-bootstrap")?.step === "create");
        assertSafe(first);

        // A list that names what the backup does not hold stops that up at the import, after the restore: nothing
        // is dropped or created in its place; correct the list and run up again.
        const wrong = await transition(
            undefined,
            { ...boot, pitrBootstrapFrom: { ...from, restored: { ...restored, roles: [...restored.roles, "cloud_user"] } } },
            { live },
        );
        assert.deepStrictEqual(
            wrong.steps.filter((s) => s.step === "refused").map((s) => `${s.name}: ${s.error}`),
            ["hanzo-sql-cloud-role: resource 'cloud_user' does not exist"],
        );

        // Without iam_user in the list, its CREATE ROLE fails on the restored role (why the list exists).
        const unlisted = await transition(
            undefined,
            { ...boot, pitrBootstrapFrom: { ...from, restored: { ...restored, roles: ["hanzo_backup", "hanzo_monitor"] } } },
            { live },
        );
        assert.deepStrictEqual(
            unlisted.steps.filter((s) => s.step === "refused").map((s) => `${s.name}: ${s.error}`),
            ['hanzo-sql-iam-role: pq: role "iam_user" already exists'],
        );

        // The next up finds the same import IDs in the state: nothing is imported again, nothing changes.
        assert.deepStrictEqual(changes(await transition(boot, boot)), []);
        // Removing the key after the first start: the pod loses the restore step (in place, one roll), its
        // ConfigMap goes once the pod no longer mounts it, and the imported roles and databases stay as they are.
        const removed = await transition(boot, pitr);
        assert.deepStrictEqual(changes(removed), ["hanzo-sql-pitr-bootstrap: delete", "hanzo-sql-postgres-statefulset: update"]);
        assertSafe(removed);

        // Onto a fresh volume of the same stack (docs/pitr.md): the key set on a running stack. The listed objects
        // are in the state without an import ID, so this up imports them (a Read of what the running server has),
        // with nothing to update; the pod gains the step in place, its ConfigMap is created.
        const own = await planWith("hanzo-k8s", pitr, SECRET_KEYS);
        const same = await transition(pitr, boot, { live: restoredLiveObjects(own, restored, false) });
        assert.deepStrictEqual(changes(same), [
            "hanzo-sql-backups-role: import",
            "hanzo-sql-iam-database: import",
            "hanzo-sql-iam-role: import",
            "hanzo-sql-monitoring-role: import",
            "hanzo-sql-pitr-bootstrap: create",
            "hanzo-sql-postgres-statefulset: update",
        ]);
        assertSafe(same);
    });
});
