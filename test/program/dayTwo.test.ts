import * as assert from "assert";
import { ROLLOUT_TIMEOUT, STARTUP_PROBE } from "../../components/postgresInstance";
import { DATA_HOLDERS, replacementOptions } from "../../policies/standard/replacement";
import { DEFAULT_EXTENSION_VERSIONS } from "../../policies/standard/rules";
import { specOf, stackConfig } from "../../cli/plan/stackFile";
import { engineSteps } from "../../cli/plan/steps";
import { TYPES, ofType, planOf, planWith, resource, revealed } from "../support/plan";

/** Changes to a running stack: each applies in place or stops before any resource, never replacing data. */
const BASE = { environment: "prod", clusterName: "hanzo-k8s", services: ["iam", "cloud"] };
const PATCH = "kubernetes:core/v1:PersistentVolumeClaimPatch";
const BUCKET = "digitalocean:index/spacesBucket:SpacesBucket";
const STS = "hanzo-sql-postgres-statefulset";

/** The configuration problems of a stack, as the error lists them. */
function problems(values: Record<string, unknown>): string[] {
    try {
        specOf(stackConfig("hanzo-k8s", values));
    } catch (e) {
        return (e as Error).message
            .split("\n")
            .slice(1)
            .map((l) => l.replace(/^ {2}- /, ""));
    }
    return [];
}

describe("growing the disk in place", () => {
    it("patches the server's claim to storageSize once the StatefulSet is there, while the StatefulSet ignores its template", async () => {
        const plan = await planWith("hanzo-k8s", { ...BASE, storageSize: "100Gi", storageSizeApplied: "50Gi" });
        const sts = resource(plan, TYPES.statefulSet, STS);
        const patch = resource(plan, PATCH, "hanzo-sql-postgres-data-claim");
        // The claim the StatefulSet controller made for pod 0: <template>-<statefulset>-0.
        const claim = `${(sts.inputs as any).spec.volumeClaimTemplates[0].metadata.name}-${(sts.inputs as any).metadata.name}-0`;
        assert.deepStrictEqual(patch.inputs, {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name: claim, namespace: "hanzo", annotations: { "pulumi.com/patchForce": "true" } },
            spec: { resources: { requests: { storage: "100Gi" } } },
        });
        assert.strictEqual(claim, "postgres-data-postgres-0");
        assert.deepStrictEqual(patch.dependencies, [sts.urn]);
        assert.deepStrictEqual([patch.options.protect, patch.options.retainOnDelete], [false, true]);
        assert.deepStrictEqual(sts.options.ignoreChanges, ["spec.volumeClaimTemplates"]);
    });

    it("shows the resize in the plan: the patch's size differs from the previous plan, and the size alert follows it", async () => {
        const before = await planWith("hanzo-k8s", BASE);
        const after = await planWith("hanzo-k8s", { ...BASE, storageSize: "100Gi", storageSizeApplied: "50Gi" });
        const changed = after.plan.resources.filter((r) => {
            const old = before.plan.resources.find((o) => o.urn === r.urn);
            return JSON.stringify(old?.inputs) !== JSON.stringify(r.inputs);
        });
        // The StatefulSet's template changes too, but the engine ignores it (ignoreChanges above); the database
        // size alert moves to 80% of the new volume; the three components whose args carry the size record it
        // in their state, and create nothing.
        assert.deepStrictEqual(
            changed
                .filter((r) => r.custom)
                .map((r) => r.name)
                .sort(),
            ["hanzo-sql-monitoring-alerts", "hanzo-sql-postgres-data-claim", STS],
        );
        assert.deepStrictEqual(
            changed
                .filter((r) => !r.custom)
                .map((r) => r.name)
                .sort(),
            ["hanzo-sql", "hanzo-sql-monitoring", "hanzo-sql-postgres"],
        );
        const tooLarge = (plan: typeof after) =>
            (
                resource(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "hanzo-sql-monitoring-alerts").inputs as any
            ).spec.groups[0].rules.find((r: { alert: string }) => r.alert === "PostgresDatabaseTooLarge").annotations.summary;
        assert.deepStrictEqual([tooLarge(before), tooLarge(after)], ["A database is larger than 40GiB", "A database is larger than 80GiB"]);
        assert.deepStrictEqual(
            (resource(before, PATCH, "hanzo-sql-postgres-data-claim").inputs as any).spec.resources.requests.storage,
            "50Gi",
        );
    });

    it("refuses to shrink the volume, to grow it on a class that cannot expand, and a storageSizeApplied that is no quantity, before any resource", () => {
        assert.deepStrictEqual(problems({ ...BASE, storageSize: "40Gi", storageSizeApplied: "50Gi" }), [
            'hanzo-sql:storageSize = "40Gi": is smaller than the volume (storageSizeApplied = "50Gi"): a volume cannot shrink; keep storageSize at "50Gi" or more, or move the data to a new stack with a backup and restore',
        ]);
        assert.deepStrictEqual(
            problems({ ...BASE, storageSize: "100Gi", storageSizeApplied: "50Gi", storageClassAllowsExpansion: false }),
            [
                'hanzo-sql:storageSize = "100Gi": would grow the volume from "50Gi", but storage class "do-block-storage" cannot expand (storageClassAllowsExpansion = false): keep "50Gi", or enable allowVolumeExpansion on the class and set storageClassAllowsExpansion true',
            ],
        );
        assert.deepStrictEqual(problems({ ...BASE, storageSizeApplied: "fifty" }), [
            'hanzo-sql:storageSizeApplied = "fifty": must be a Kubernetes quantity, e.g. "2Gi" or "512Mi"',
        ]);
        // Same size, or growth on an expandable class, is fine; so is a class that cannot expand when nothing grows.
        assert.deepStrictEqual(
            problems({ ...BASE, storageSize: "50Gi", storageSizeApplied: "50Gi", storageClassAllowsExpansion: false }),
            [],
        );
        assert.deepStrictEqual(problems({ ...BASE, storageSize: "51200Mi", storageSizeApplied: "50Gi" }), []);
    });
});

describe("waits that match the probes", () => {
    it("gives the StatefulSet's rollout the startup probe's whole window, plus scheduling and the image pull", async () => {
        const plan = await planOf("hanzo-k8s");
        const sts = resource(plan, TYPES.statefulSet, STS);
        const probe = (sts.inputs as any).spec.template.spec.containers[0].startupProbe;
        assert.deepStrictEqual(
            { periodSeconds: probe.periodSeconds, timeoutSeconds: probe.timeoutSeconds, failureThreshold: probe.failureThreshold },
            STARTUP_PROBE,
        );
        const windowMinutes = (probe.periodSeconds * probe.failureThreshold) / 60;
        assert.strictEqual(windowMinutes, 60);
        assert.deepStrictEqual(sts.options.customTimeouts, { create: "75m", update: "75m" });
        assert.strictEqual(ROLLOUT_TIMEOUT, `${windowMinutes + 15}m`);
    });
});

describe("changes that would break something stop", () => {
    it("gives every data-holding resource the options policies/standard/replacement.ts lists for it, and lists every guarded type", async () => {
        const plan = await planOf("hanzo-k8s");
        const holders = plan.plan.resources.filter((r) => r.type in DATA_HOLDERS);
        assert.deepStrictEqual([...new Set(holders.map((r) => r.type))].sort(), Object.keys(DATA_HOLDERS).sort());
        for (const r of holders) {
            const want = replacementOptions(r.type);
            assert.deepStrictEqual(
                [r.options.ignoreChanges, r.options.replaceOnChanges],
                [want.ignoreChanges, want.replaceOnChanges],
                r.name,
            );
            assert.strictEqual(r.options.protect, DATA_HOLDERS[r.type].protect, r.name);
        }
        // Nothing else is protected or retained: the list is complete.
        const guarded = plan.plan.resources.filter((r) => r.options.protect || r.options.retainOnDelete);
        assert.ok(
            guarded.every((r) => r.type in DATA_HOLDERS),
            guarded.map((r) => r.type).join(", "),
        );
    });

    it("makes a new backup bucket name a replacement, which protect turns into an error", async () => {
        const bucket = resource(await planOf("hanzo-k8s"), BUCKET, "hanzo-sql-backups-bucket");
        assert.deepStrictEqual([bucket.options.replaceOnChanges, bucket.options.protect], [["name"], true]);
        assert.strictEqual(bucket.inputs.name, "hanzo-k8s-postgres-backups");
    });
});

describe("extensions follow the image", () => {
    it("pins every extension to the image's version in every database and template1", async () => {
        const plan = await planOf("hanzo-k8s");
        const exts = ofType(plan, TYPES.extension);
        assert.strictEqual(exts.length, 7 * 4);
        for (const e of exts) {
            assert.strictEqual(e.inputs.version, DEFAULT_EXTENSION_VERSIONS[String(e.inputs.name)], e.name);
        }
        assert.deepStrictEqual(DEFAULT_EXTENSION_VERSIONS, {
            vector: "0.8.0",
            pg_trgm: "1.6",
            "uuid-ossp": "1.1",
            pg_stat_statements: "1.10",
        });
    });

    it("moves every database's extension to a new image's version (the provider runs ALTER EXTENSION … UPDATE TO)", async () => {
        const plan = await planWith("hanzo-k8s", {
            ...BASE,
            image: "pgvector/pgvector:0.8.1-pg16",
            extensionVersions: { vector: "0.8.1" },
        });
        const vector = ofType(plan, TYPES.extension).filter((e) => e.inputs.name === "vector");
        assert.deepStrictEqual(
            vector.map((e) => [e.inputs.database, e.inputs.version]),
            [
                ["template1", "0.8.1"],
                ["iam", "0.8.1"],
                ["cloud", "0.8.1"],
            ],
        );
        assert.ok(
            ofType(plan, TYPES.extension)
                .filter((e) => e.inputs.name === "pg_trgm")
                .every((e) => e.inputs.version === "1.6"),
        );
    });

    it("refuses an unknown extension, one no service uses, and a version that is not one", () => {
        assert.deepStrictEqual(problems({ ...BASE, extensionVersions: { pgvector: "0.8.1", citext: "1.6", vector: "latest!" } }), [
            `hanzo-sql:extensionVersions.pgvector = "0.8.1": unknown extension; the image ships vector, pg_trgm, uuid-ossp, pg_stat_statements, amcheck, btree_gin, btree_gist, citext, cube, earthdistance, fuzzystrmatch, hstore, intarray, isn, lo, ltree, pg_buffercache, pg_prewarm, pgcrypto, pgstattuple, tablefunc, tcn, unaccent`,
            'hanzo-sql:extensionVersions.citext = "1.6": no service uses this extension: add it to a service\'s extensions, or remove the version',
            'hanzo-sql:extensionVersions.vector = "latest!": must be a version string as the extension names it, e.g. "0.8.0" or "1.6" (SELECT name, version FROM pg_available_extension_versions)',
        ]);
    });
});

describe("services come and go safely", () => {
    const RENAMED = { ...BASE, services: [{ name: "identity", renamedFrom: "iam" }, "cloud"] };

    it("a rename keeps every resource: each one of the renamed service is found under its old URN (the engine-step model's aliases)", async () => {
        const before = await planWith("hanzo-k8s", BASE);
        const after = await planWith("hanzo-k8s", RENAMED);
        const renamed = after.plan.resources.filter((r) => r.name.includes("identity"));
        assert.deepStrictEqual(renamed.map((r) => r.name).sort(), [
            "hanzo-sql-backups-connect-identity",
            "hanzo-sql-identity",
            "hanzo-sql-identity-connection",
            "hanzo-sql-identity-database",
            "hanzo-sql-identity-ext-pg_stat_statements",
            "hanzo-sql-identity-ext-pg_trgm",
            "hanzo-sql-identity-ext-uuid-ossp",
            "hanzo-sql-identity-ext-vector",
            "hanzo-sql-identity-password",
            "hanzo-sql-identity-revoke-public",
            "hanzo-sql-identity-role",
            "hanzo-sql-identity-role-salt",
        ]);
        // `getOldResource` through `generateAliases`/`inheritedChildAlias` (cli/plan/steps.ts): nothing of the
        // renamed service is created anew, and nothing of the old stack is left behind to be deleted.
        const steps = engineSteps({ before: before.plan.resources, after: after.plan.resources });
        assert.deepStrictEqual(
            steps.filter((s) => s.step === "create" || s.step === "delete").map((s) => s.name),
            [],
        );
        assert.deepStrictEqual(
            steps
                .filter((s) => s.name === "hanzo-sql-identity-password" || s.name === "hanzo-sql-identity")
                .map((s) => [s.name, s.step, s.why]),
            [
                // The component records its new name: an update of its state, no resource created.
                ["hanzo-sql-identity", "update", "updates service"],
                [
                    "hanzo-sql-identity-password",
                    "same",
                    "same, found under its alias urn:pulumi:hanzo-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase$random:index/randomPassword:RandomPassword::hanzo-sql-iam-password",
                ],
            ],
        );
    });

    it("renames the database and the role in place, and retains the objects inside whose replacement would reach the old name", async () => {
        const after = await planWith("hanzo-k8s", RENAMED);
        const db = resource(after, TYPES.database, "hanzo-sql-identity-database");
        assert.deepStrictEqual([db.inputs.name, db.inputs.owner, db.options.protect], ["identity", "identity_user", true]);
        assert.strictEqual(resource(after, TYPES.role, "hanzo-sql-identity-role").inputs.name, "identity_user");
        for (const r of [...ofType(after, TYPES.extension), ...ofType(after, TYPES.grant)].filter(
            (x) => x.inputs.database === "identity",
        )) {
            assert.strictEqual(r.options.retainOnDelete, true, r.name);
        }
        for (const r of [...ofType(after, TYPES.extension), ...ofType(after, TYPES.grant)].filter((x) => x.inputs.database === "cloud")) {
            assert.strictEqual(r.options.retainOnDelete, false, r.name);
        }
    });

    it("refuses a rename whose old service is still declared, or that names the service itself", () => {
        assert.deepStrictEqual(
            problems({ ...BASE, services: ["iam", { name: "identity", renamedFrom: "iam" }, { name: "cloud", renamedFrom: "cloud" }] }),
            [
                // In the order of the entries.
                'hanzo-sql:services[1].renamedFrom = "iam": service "iam" is still declared: a rename moves its database, so remove the old entry',
                'hanzo-sql:services[2].renamedFrom = "cloud": is the service\'s current name; remove renamedFrom once the rename is applied, or give the old name',
            ],
        );
    });

    it("protects every service database, so removing a service stops `pulumi up` until the documented steps are taken", async () => {
        const plan = await planOf("hanzo-k8s");
        for (const db of ofType(plan, TYPES.database)) {
            assert.deepStrictEqual([db.options.protect, db.options.retainOnDelete], [true, true], db.name);
        }
    });

    it("gives the Kubernetes provider the kubeconfig of this run's cluster lookup, which `--run-program` relies on", async () => {
        const plan = await planOf("hanzo-k8s");
        const provider = resource(plan, TYPES.k8sProvider, "hanzo-sql-k8s");
        // The offline plan's lookup of hanzo-k8s (cli/plan/runner.ts mocks getKubernetesCluster).
        assert.match(
            String(revealed(plan, provider).kubeconfig),
            /^apiVersion: v1\nkind: Config\nclusters:\n- name: hanzo-k8s\n {2}cluster:\n {4}server: https:\/\/hanzo-k8s\.k8s\.example\n$/,
        );
        assert.strictEqual(
            Object.keys(specOf(stackConfig("hanzo-k8s"))).includes("kubeconfig"),
            false,
            "no kubeconfig is stored in configuration",
        );
    });

    it("makes the admin connection wait for everything it passes through: the StatefulSet and the Service", async () => {
        const plan = await planOf("hanzo-k8s");
        const provider = ofType(plan, TYPES.pgProvider)[0];
        const sts = resource(plan, TYPES.statefulSet, STS);
        const service = resource(plan, TYPES.service, "hanzo-sql-postgres-service");
        assert.ok(provider.dependencies.includes(sts.urn) && provider.dependencies.includes(service.urn), provider.dependencies.join(" "));
    });
});
