import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { requiredCliVersion } from "../../cli/plan/stepsReport";
import { IMPORT_DIFF_VERSION, LiveObject, ModelResource, engineSteps } from "../../cli/plan/steps";
import { TYPES, UNKNOWN } from "../../policies/standard/types";

/**
 * The engine-step model, rule by rule. Each `describe` names the source the rule is read from; each case is
 * the smallest transition that shows it. Resources are built by hand: one kubernetes provider, one resource.
 */
const STACK = "urn:pulumi:s::hanzo-sql";
const K8S = `${STACK}::pulumi:providers:kubernetes::k8s`;
const PG = `${STACK}::pulumi:providers:postgresql::pg`;

function provider(inputs: Record<string, unknown> = {}, type = "pulumi:providers:kubernetes", name = "k8s"): ModelResource {
    return { type, name, urn: `${STACK}::${type}::${name}`, custom: true, inputs, options: {} };
}

function res(type: string, name: string, inputs: Record<string, unknown>, more: Partial<ModelResource> = {}): ModelResource {
    const prov = type.startsWith("kubernetes:") ? `${K8S}::id` : type.startsWith("postgresql:") ? `${PG}::id` : undefined;
    return {
        type,
        name,
        urn: `${STACK}::${type}::${name}`,
        custom: true,
        inputs,
        ...more,
        options: { ...(prov ? { provider: prov } : {}), ...more.options },
    };
}

/** The one step of `name` in a transition from `before` to `after` (each with the providers). */
function step(
    before: ModelResource[],
    after: ModelResource[],
    name: string,
    extra: { live?: LiveObject[]; cliVersion?: string; providerConfig?: Record<string, unknown> } = {},
) {
    const provs = [provider(extra.providerConfig), provider({}, "pulumi:providers:postgresql", "pg")];
    const steps = engineSteps({
        before: [...provs, ...before],
        after: [...provs, ...after],
        live: extra.live,
        cliVersion: extra.cliVersion,
    });
    const s = steps.find((x) => x.name === name);
    assert.ok(s, `no step for ${name}: ${steps.map((x) => x.name).join(", ")}`);
    const { urn: _u, type: _t, name: _n, why: _w, ...rest } = s;
    return rest;
}

const meta = (name: string) => ({ name, namespace: "hanzo" });
const secret = (data: Record<string, string>, more: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta("creds"),
    type: "Opaque",
    stringData: data,
    ...more,
});
const configMap = (data: Record<string, string>, more: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta("conf"),
    data,
    ...more,
});

describe("engine steps: pulumi-kubernetes forceNewProperties (provider/pkg/provider/diff.go)", () => {
    it("replaces a named Secret whose stringData changes, delete-first; updates it when the provider has enableSecretMutable", () => {
        const a = res(TYPES.secret, "s", secret({ password: "one" }));
        const b = res(TYPES.secret, "s", secret({ password: "two" }));
        assert.deepStrictEqual(step([a], [b], "s"), {
            step: "replace",
            deleteBeforeReplace: true,
            changed: ["data.password"],
            replaceKeys: ["data.password"],
        });
        assert.deepStrictEqual(step([a], [b], "s", { providerConfig: { enableSecretMutable: "true" } }), {
            step: "update",
            changed: ["data.password"],
        });
        // A key added to data is as much a replacement (the adoption's scram-verifier).
        const c = res(TYPES.secret, "s", secret({ password: "one", "scram-verifier": "v" }));
        assert.deepStrictEqual(step([a], [c], "s").replaceKeys, ["data.scram-verifier"]);
        const live = res(TYPES.secret, "s", {
            ...secret({}),
            stringData: undefined,
            data: { password: Buffer.from("one").toString("base64") },
        });
        assert.deepStrictEqual(step([live], [a], "s"), { step: "same" });
    });

    it("keeps an immutable Secret replace-forcing even with enableSecretMutable, and its type always", () => {
        const a = res(TYPES.secret, "s", secret({ password: "one" }, { immutable: true }));
        const b = res(TYPES.secret, "s", secret({ password: "two" }, { immutable: true }));
        assert.strictEqual(step([a], [b], "s", { providerConfig: { enableSecretMutable: true } }).step, "replace");
        const t = res(TYPES.secret, "s", secret({ password: "one" }, { type: "kubernetes.io/basic-auth" }));
        assert.deepStrictEqual(
            step([res(TYPES.secret, "s", secret({ password: "one" }))], [t], "s", { providerConfig: { enableSecretMutable: true } })
                .replaceKeys,
            ["type"],
        );
    });

    it("replaces a ConfigMap whose data changes unless enableConfigMapMutable; labels alone update", () => {
        const a = res(TYPES.configMap, "c", configMap({ "postgresql.conf": "a" }));
        const b = res(TYPES.configMap, "c", configMap({ "postgresql.conf": "b" }));
        assert.deepStrictEqual(step([a], [b], "c"), {
            step: "replace",
            deleteBeforeReplace: true,
            changed: ["data.postgresql.conf"],
            replaceKeys: ["data.postgresql.conf"],
        });
        assert.strictEqual(step([a], [b], "c", { providerConfig: { enableConfigMapMutable: true } }).step, "update");
        const labelled = res(
            TYPES.configMap,
            "c",
            configMap({ "postgresql.conf": "a" }, { metadata: { ...meta("conf"), labels: { x: "y" } } }),
        );
        assert.deepStrictEqual(step([a], [labelled], "c"), { step: "update", changed: ["metadata.labels"] });
    });

    it("replaces a Service whose clusterIP changes (an adopted non-headless Service); ports update", () => {
        const svc = (spec: Record<string, unknown>) =>
            res(TYPES.service, "svc", { apiVersion: "v1", kind: "Service", metadata: meta("postgres"), spec });
        assert.deepStrictEqual(
            step([svc({ clusterIP: "10.0.0.5", ports: [{ port: 5432 }] })], [svc({ clusterIP: "None", ports: [{ port: 5432 }] })], "svc"),
            {
                step: "replace",
                deleteBeforeReplace: true,
                changed: ["spec.clusterIP"],
                replaceKeys: ["spec.clusterIP"],
            },
        );
        assert.deepStrictEqual(step([svc({ ports: [{ port: 5432 }] })], [svc({ ports: [{ port: 5433 }] })], "svc"), {
            step: "update",
            changed: ["spec.ports[0].port"],
        });
    });

    it("replaces a StatefulSet on selector, serviceName, podManagementPolicy or its claim templates; a template change updates", () => {
        const spec = {
            selector: { matchLabels: { app: "postgres" } },
            serviceName: "postgres",
            template: { spec: { containers: [{ name: "p", image: "a" }] } },
            volumeClaimTemplates: [{ spec: { resources: { requests: { storage: "50Gi" } } } }],
        };
        const sts = (s: Record<string, unknown>, options = {}) =>
            res(
                TYPES.statefulSet,
                "sts",
                { apiVersion: "apps/v1", kind: "StatefulSet", metadata: meta("postgres"), spec: { ...spec, ...s } },
                { options },
            );
        const replaced = (s: Record<string, unknown>) => step([sts({})], [sts(s)], "sts").replaceKeys;
        assert.deepStrictEqual(replaced({ selector: { matchLabels: { app: "pg" } } }), ["spec.selector.matchLabels.app"]);
        assert.deepStrictEqual(replaced({ serviceName: "pg" }), ["spec.serviceName"]);
        assert.deepStrictEqual(replaced({ podManagementPolicy: "Parallel" }), ["spec.podManagementPolicy"]);
        assert.deepStrictEqual(replaced({ volumeClaimTemplates: [{ spec: { resources: { requests: { storage: "100Gi" } } } }] }), [
            "spec.volumeClaimTemplates[0].spec.resources.requests.storage",
        ]);
        assert.deepStrictEqual(step([sts({})], [sts({ template: { spec: { containers: [{ name: "p", image: "b" }] } } })], "sts"), {
            step: "update",
            changed: ["spec.template.spec.containers[0].image"],
        });
        // ignoreChanges (processIgnoreChanges, step_generator.go): the grown template is not seen at all.
        const ignore = { ignoreChanges: ["spec.volumeClaimTemplates"] };
        assert.strictEqual(
            step(
                [sts({}, ignore)],
                [sts({ volumeClaimTemplates: [{ spec: { resources: { requests: { storage: "100Gi" } } } }] }, ignore)],
                "sts",
            ).step,
            "same",
        );
    });

    it("replaces a Deployment on its selector and a Job on its template; a CronJob's template updates", () => {
        const dep = (app: string, image: string) =>
            res(TYPES.deployment, "d", {
                metadata: meta("pgbouncer"),
                spec: { selector: { matchLabels: { app } }, template: { spec: { containers: [{ image }] } } },
            });
        assert.strictEqual(step([dep("a", "x")], [dep("b", "x")], "d").step, "replace");
        assert.strictEqual(step([dep("a", "x")], [dep("a", "y")], "d").step, "update");
        const job = (image: string) =>
            res(TYPES.job, "j", { metadata: meta("j"), spec: { template: { spec: { containers: [{ image }] } } } });
        assert.deepStrictEqual(step([job("x")], [job("y")], "j").replaceKeys, ["spec.template.spec.containers[0].image"]);
        const cron = (image: string) =>
            res(TYPES.cronJob, "cj", {
                metadata: meta("cj"),
                spec: { jobTemplate: { spec: { template: { spec: { containers: [{ image }] } } } } },
            });
        assert.strictEqual(step([cron("x")], [cron("y")], "cj").step, "update");
    });

    it("replaces create-first when the name changes (Diff in provider.go: delete-first only for the same name and namespace), and create-first when autonamed", () => {
        const cm = (name: string | undefined) =>
            res(TYPES.configMap, "c", { metadata: name ? { name, namespace: "hanzo" } : { namespace: "hanzo" }, data: { a: name ?? "x" } });
        assert.deepStrictEqual(step([cm("one")], [cm("two")], "c"), {
            step: "replace",
            deleteBeforeReplace: false,
            changed: ["data.a", "metadata.name"],
            replaceKeys: ["data.a", "metadata.name"],
        });
        assert.deepStrictEqual(
            step([cm(undefined)], [{ ...cm(undefined), inputs: { metadata: { namespace: "hanzo" }, data: { a: "y" } } }], "c")
                .deleteBeforeReplace,
            false,
        );
    });

    it("updates a Patch resource in place on any field but its name and namespace (Diff in provider.go)", () => {
        const patch = (storage: string, name = "data-postgres-0") =>
            res(TYPES.pvcPatch, "p", {
                metadata: { name, namespace: "hanzo" },
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage } } },
            });
        assert.strictEqual(step([patch("50Gi")], [patch("100Gi")], "p").step, "update");
        assert.strictEqual(step([patch("50Gi")], [patch("50Gi", "other")], "p").step, "replace");
    });

    it("treats an unknown value as a change, and a whole value added around a replace-forcing path as a replacement", () => {
        const a = res(TYPES.secret, "s", secret({ password: "one" }));
        const b = res(TYPES.secret, "s", { ...secret({}), stringData: UNKNOWN });
        // (An unknown value is not normalized: the live data goes, unknown stringData comes.)
        assert.deepStrictEqual(step([a], [b], "s").replaceKeys, ["data", "stringData"]);
        const svcA = res(TYPES.service, "svc", { metadata: meta("postgres") });
        const svcB = res(TYPES.service, "svc", { metadata: meta("postgres"), spec: { clusterIP: "None" } });
        assert.deepStrictEqual(step([svcA], [svcB], "svc").replaceKeys, ["spec"]);
    });
});

describe("engine steps: Terraform providers' ForceNew (postgresql, DigitalOcean, random)", () => {
    const db = (inputs: Record<string, unknown>, options = {}) =>
        res(TYPES.database, "db", { name: "iam", owner: "iam_user", template: "template0", ...inputs }, { options });

    it("renames a Database in place and replaces it on template, encoding or collation (resource_postgresql_database.go)", () => {
        assert.deepStrictEqual(step([db({})], [db({ name: "identity" })], "db"), { step: "update", changed: ["name"] });
        assert.deepStrictEqual(step([db({})], [db({ template: "template1" })], "db"), {
            step: "replace",
            deleteBeforeReplace: false,
            changed: ["template"],
            replaceKeys: ["template"],
        });
        assert.strictEqual(step([db({})], [db({ lcCollate: "C" })], "db").step, "replace");
        // An input the program leaves out keeps the state's (Read-filled Optional+Computed attributes): no change.
        assert.deepStrictEqual(step([db({ lcCollate: "en_US.utf8", tablespaceName: "pg_default" })], [db({})], "db"), { step: "same" });
    });

    it("updates an Extension's version and replaces it on another database (resource_postgresql_extension.go)", () => {
        const ext = (database: string, version: string) => res(TYPES.extension, "e", { name: "vector", database, version });
        assert.deepStrictEqual(step([ext("iam", "0.8.0")], [ext("iam", "0.8.1")], "e"), { step: "update", changed: ["version"] });
        assert.strictEqual(step([ext("iam", "0.8.0")], [ext("identity", "0.8.0")], "e").step, "replace");
    });

    it("updates a Grant's privileges and replaces it on role, database or object type (resource_postgresql_grant.go)", () => {
        const g = (role: string, privileges: string[]) =>
            res(TYPES.grant, "g", { role, database: "iam", objectType: "database", privileges });
        assert.strictEqual(step([g("a", ["CONNECT"])], [g("a", ["CONNECT", "TEMPORARY"])], "g").step, "update");
        assert.strictEqual(step([g("a", ["CONNECT"])], [g("b", ["CONNECT"])], "g").step, "replace");
    });

    it("renames a Role in place (no ForceNew in resource_postgresql_role.go)", () => {
        const role = (name: string) => res(TYPES.role, "r", { name, login: true });
        assert.deepStrictEqual(step([role("iam_user")], [role("identity_user")], "r"), { step: "update", changed: ["name"] });
    });

    it("refuses to create a Role or Database that exists (a plain CREATE ROLE / CREATE DATABASE, resource_postgresql_role.go, resource_postgresql_database.go)", () => {
        const role = res(TYPES.role, "r", { name: "iam_user", login: true });
        const db = res(TYPES.database, "d", { name: "iam", owner: "iam_user" });
        const live: LiveObject[] = [
            { type: TYPES.role, id: "iam_user", inputs: { name: "iam_user", login: true } },
            { type: TYPES.database, id: "iam", inputs: { name: "iam", owner: "iam_user" } },
        ];
        assert.deepStrictEqual(step([], [role], "r", { live }), { step: "refused", error: 'pq: role "iam_user" already exists' });
        assert.deepStrictEqual(step([], [db], "d", { live }), { step: "refused", error: 'pq: database "iam" already exists' });
        assert.deepStrictEqual(step([], [role], "r", { live: [] }), { step: "create" });
        // Imported instead, it is read and kept.
        assert.deepStrictEqual(step([], [{ ...role, options: { ...role.options, import: "iam_user" } }], "r", { live }), {
            step: "import",
        });
    });

    it("replaces a RandomPassword when its keepers change, create-first (resource_password.go: RequiresReplace)", () => {
        const pw = (keepers?: Record<string, string>) => res(TYPES.password, "pw", { length: 32, ...(keepers ? { keepers } : {}) });
        assert.deepStrictEqual(step([pw()], [pw({ version: "2" })], "pw"), {
            step: "replace",
            deleteBeforeReplace: false,
            changed: ["keepers"],
            replaceKeys: ["keepers"],
        });
        assert.strictEqual(
            step([res(TYPES.randomId, "id", { byteLength: 16 })], [res(TYPES.randomId, "id", { byteLength: 32 })], "id").step,
            "replace",
        );
    });

    it("updates a bucket's name in place (only region is ForceNew, resource_spaces_bucket.go) unless replaceOnChanges names it (applyReplaceOnChanges)", () => {
        const bucket = (name: string, region: string, options = {}) => res(TYPES.spacesBucket, "b", { name, region }, { options });
        assert.deepStrictEqual(step([bucket("a", "nyc3")], [bucket("b", "nyc3")], "b"), { step: "update", changed: ["name"] });
        assert.strictEqual(step([bucket("a", "nyc3")], [bucket("a", "ams3")], "b").step, "replace");
        const roc = { replaceOnChanges: ["name"] };
        assert.deepStrictEqual(step([bucket("a", "nyc3", roc)], [bucket("b", "nyc3", roc)], "b"), {
            step: "replace",
            deleteBeforeReplace: false,
            changed: ["name"],
            replaceKeys: ["name"],
        });
        // A SpacesKey's grants update (spacesKeyResourceSchema: no ForceNew).
        assert.strictEqual(
            step(
                [res(TYPES.spacesKey, "k", { name: "k", grants: [{ bucket: "a" }] })],
                [res(TYPES.spacesKey, "k", { name: "k", grants: [{ bucket: "b" }] })],
                "k",
            ).step,
            "update",
        );
    });
});

describe("engine steps: the engine's own rules (pkg/resource/deploy/step_generator.go, step.go)", () => {
    const db = (inputs: Record<string, unknown>, options: Record<string, unknown> = {}) =>
        res(TYPES.database, "db", { name: "iam", template: "template0", ...inputs }, { options });

    it("creates what is new, keeps what is equal, deletes what the program dropped (GenerateDeletes)", () => {
        const a = res(TYPES.role, "a", { name: "a" });
        const b = res(TYPES.role, "b", { name: "b" });
        assert.deepStrictEqual(step([a], [a, b], "b"), { step: "create" });
        assert.deepStrictEqual(step([a], [a], "a"), { step: "same" });
        assert.deepStrictEqual(step([a, b], [a], "b"), { step: "delete" });
    });

    it("refuses to replace a resource protected in state and in the program (continueStepsFromDiff), and to delete one protected in state (DeleteStep.Apply)", () => {
        const p = { protect: true };
        assert.deepStrictEqual(step([db({}, p)], [db({ template: "template1" }, p)], "db").step, "refused");
        assert.match(
            String(step([db({}, p)], [db({ template: "template1" }, p)], "db").error),
            /^unable to replace resource ".*::db" as it is currently marked for protection/,
        );
        // Unprotecting and replacing in one `up` is allowed ("we don't look at old.Protect here" only for new.Protect false).
        assert.strictEqual(step([db({}, p)], [db({ template: "template1" })], "db").step, "replace");
        assert.match(String(step([db({}, p)], [], "db").error), /cannot be deleted because it is protected$/);
    });

    it("deletes a retainOnDelete resource from state only (DeleteStep.Apply: RetainOnDelete)", () => {
        assert.deepStrictEqual(step([db({}, { retainOnDelete: true })], [], "db"), { step: "delete", retained: true });
    });

    it("lets the program's deleteBeforeReplace override the provider's choice either way", () => {
        assert.strictEqual(step([db({})], [db({ template: "t" }, { deleteBeforeReplace: true })], "db").deleteBeforeReplace, true);
        const a = res(TYPES.secret, "s", secret({ p: "1" }));
        const b = res(TYPES.secret, "s", secret({ p: "2" }), { options: { deleteBeforeReplace: false } });
        assert.strictEqual(step([a], [b], "s").deleteBeforeReplace, false);
    });

    it("finds a resource under its alias, and a child under its parent's alias (generateAliases, inheritedChildAlias)", () => {
        const oldParent: ModelResource = {
            type: "hanzo-sql:index:ServiceDatabase",
            name: "x-iam",
            urn: `${STACK}::hanzo-sql:index:ServiceDatabase::x-iam`,
            custom: false,
            inputs: {},
            options: {},
        };
        const oldChild: ModelResource = {
            ...res(TYPES.role, "x-iam-role", { name: "iam_user" }),
            urn: `${STACK}::hanzo-sql:index:ServiceDatabase$${TYPES.role}::x-iam-role`,
            parent: oldParent.urn,
        };
        const newParent: ModelResource = {
            ...oldParent,
            name: "x-identity",
            urn: `${STACK}::hanzo-sql:index:ServiceDatabase::x-identity`,
            options: { aliases: [oldParent.urn] },
        };
        const newChild: ModelResource = {
            ...res(TYPES.role, "x-identity-role", { name: "identity_user" }),
            urn: `${STACK}::hanzo-sql:index:ServiceDatabase$${TYPES.role}::x-identity-role`,
            parent: newParent.urn,
        };
        const steps = engineSteps({ before: [provider(), oldParent, oldChild], after: [provider(), newParent, newChild] });
        assert.deepStrictEqual(
            steps.map((s) => [s.name, s.step]),
            [
                ["k8s", "same"],
                ["x-identity", "same"],
                ["x-identity-role", "update"],
            ],
        );
    });

    it("imports an object whose inputs match, and before 3.174 refuses one whose inputs differ (ImportStep.Apply before pulumi/pulumi#19339)", () => {
        const r = res(TYPES.secret, "s", secret({ password: "p", "scram-verifier": "v" }), { options: { import: "hanzo/creds" } });
        const same: LiveObject = { type: TYPES.secret, id: "hanzo/creds", inputs: secret({ password: "p", "scram-verifier": "v" }) };
        const seed: LiveObject = { type: TYPES.secret, id: "hanzo/creds", inputs: secret({ password: "p" }) };
        assert.deepStrictEqual(step([], [r], "s", { live: [same] }), { step: "import" });
        assert.deepStrictEqual(step([], [r], "s", { live: [seed] }), {
            step: "refused",
            error: "inputs to import do not match the existing resource: [data.scram-verifier]",
            changed: ["data.scram-verifier"],
        });
        // ignoreChanges applies to the import's diff too.
        const ignoring = { ...r, options: { ...r.options, ignoreChanges: ["stringData", "data"] } };
        assert.deepStrictEqual(step([], [ignoring], "s", { live: [seed] }), { step: "import" });
        assert.deepStrictEqual(step([], [r], "s", { live: [] }), { step: "refused", error: "resource 'hanzo/creds' does not exist" });
    });

    it(`from ${IMPORT_DIFF_VERSION}, imports then updates, but refuses an import whose diff is a replacement (continueStepsFromDiff: goal.ID)`, () => {
        const cli = { cliVersion: "3.175.0" };
        const sts = (image: string, serviceName: string) =>
            res(
                TYPES.statefulSet,
                "sts",
                { metadata: meta("postgres"), spec: { serviceName, template: { spec: { containers: [{ image }] } } } },
                { options: { import: "hanzo/postgres" } },
            );
        const live: LiveObject = { type: TYPES.statefulSet, id: "hanzo/postgres", inputs: sts("a", "postgres").inputs };
        assert.deepStrictEqual(step([], [sts("b", "postgres")], "sts", { live: [live], ...cli }), {
            step: "import",
            thenUpdate: true,
            changed: ["spec.template.spec.containers[0].image"],
        });
        const refusal = step([], [sts("a", "pg")], "sts", { live: [live], ...cli });
        assert.strictEqual(refusal.step, "refused");
        assert.match(
            String(refusal.error),
            /^previously-imported resources that still specify an ID may not be replaced; please remove the `import` declaration from your program; replaced by: spec\.serviceName$/,
        );
        // Once in state with the same import ID, no import again: an ordinary diff, and any replacement is refused.
        assert.deepStrictEqual(step([sts("a", "postgres")], [sts("b", "postgres")], "sts", cli), {
            step: "update",
            changed: ["spec.template.spec.containers[0].image"],
        });
        assert.strictEqual(step([sts("a", "postgres")], [sts("a", "pg")], "sts", cli).step, "refused");
    });

    it("replaces, delete-first, the dependents a delete-before-replace would break (calculateDependentReplacements); not those whose changed input is not replace-forcing", () => {
        const cm = (v: string) => res(TYPES.configMap, "cm", configMap({ a: v }));
        // A Job whose template reads the ConfigMap's name (a property dependency on spec): its template is replace-forcing.
        const job = res(
            TYPES.job,
            "job",
            { metadata: meta("j"), spec: { template: { spec: { volumes: [{ configMap: { name: "conf" } }] } } } },
            { propertyDependencies: { spec: [cm("").urn] }, dependencies: [cm("").urn] },
        );
        // A CronJob reading it the same way is not replaced: no forceNew path under its spec.
        const cron = res(
            TYPES.cronJob,
            "cron",
            { metadata: meta("c"), spec: { jobTemplate: {} } },
            { propertyDependencies: { spec: [cm("").urn] }, dependencies: [cm("").urn] },
        );
        const steps = engineSteps({ before: [provider(), cm("1"), job, cron], after: [provider(), cm("2"), job, cron] });
        assert.deepStrictEqual(
            steps.map((s) => [s.name, s.step, s.deleteBeforeReplace]),
            [
                ["k8s", "same", undefined],
                ["cm", "replace", true],
                ["job", "replace", true],
                // Not replaced; and at `up` its inputs are the plan's (the ConfigMap keeps its name): same.
                ["cron", "same", undefined],
            ],
        );
        // A protected dependent stops the chain.
        const protectedJob = { ...job, options: { ...job.options, protect: true } };
        assert.strictEqual(
            engineSteps({ before: [provider(), cm("1"), protectedJob], after: [provider(), cm("2"), protectedJob] }).find(
                (s) => s.name === "job",
            )?.step,
            "refused",
        );
    });

    it("replaces what a replaced provider manages, and replaces the kubernetes provider when clusterIdentifier changes (DiffConfig in provider.go)", () => {
        const cm = res(TYPES.configMap, "cm", configMap({ a: "1" }));
        const steps = engineSteps({
            before: [provider({ clusterIdentifier: "a" }), cm],
            after: [provider({ clusterIdentifier: "b" }), cm],
        });
        assert.deepStrictEqual(
            steps.map((s) => [s.name, s.step, s.replaceKeys, s.deleteBeforeReplace]),
            [
                ["k8s", "replace", ["clusterIdentifier"], false],
                ["cm", "replace", ["provider"], false],
            ],
        );
        // A new token in the kubeconfig of the same cluster updates the provider only.
        const same = engineSteps({
            before: [provider({ clusterIdentifier: "a", kubeconfig: "t1" }), cm],
            after: [provider({ clusterIdentifier: "a", kubeconfig: "t2" }), cm],
        });
        assert.deepStrictEqual(
            same.map((s) => [s.name, s.step]),
            [
                ["k8s", "update"],
                ["cm", "same"],
            ],
        );
    });

    it("makes inputs fed from a replaced generator unknown (a new random value), but not those fed from another replaced resource (its outputs echo the inputs)", () => {
        const pw = (keepers?: Record<string, string>) => res(TYPES.password, "pw", { length: 32, ...(keepers ? { keepers } : {}) });
        const role = res(
            TYPES.role,
            "r",
            { name: "r", password: "same-in-both-plans" },
            { propertyDependencies: { password: [pw().urn] } },
        );
        const steps = engineSteps({ before: [provider(), pw(), role], after: [provider(), pw({ v: "2" }), role] });
        assert.deepStrictEqual(
            steps.map((s) => [s.name, s.step, s.changed]),
            [
                ["k8s", "same", undefined],
                ["pw", "replace", ["keepers"]],
                ["r", "update", ["password"]],
            ],
        );
        const db = (template: string) => res(TYPES.database, "db", { name: "db", template });
        const ext = res(TYPES.extension, "e", { name: "vector", database: "db" }, { propertyDependencies: { database: [db("").urn] } });
        assert.deepStrictEqual(
            engineSteps({ before: [provider(), db("a"), ext], after: [provider(), db("b"), ext] }).map((s) => [s.name, s.step]),
            [
                ["k8s", "same"],
                ["db", "replace"],
                ["e", "same"],
            ],
        );
    });

    it("never replaces a component: the engine diffs its inputs itself", () => {
        const comp = (v: string): ModelResource => ({
            type: "hanzo-sql:index:X",
            name: "x",
            urn: `${STACK}::hanzo-sql:index:X::x`,
            custom: false,
            inputs: { spec: v },
            options: {},
        });
        assert.deepStrictEqual(step([comp("a")], [comp("b")], "x"), { step: "update", changed: ["spec"] });
    });
});

describe("npm run plan -- --from: the steps for users", () => {
    const PLAN = path.join(PROJECT_DIR, "build", "cli", "plan.js");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "steps-"));
    const run = (...args: string[]) =>
        spawnSync(process.execPath, [PLAN, "--stack", "hanzo-k8s", ...args], { encoding: "utf8", cwd: PROJECT_DIR });

    it("prints every step as JSON, exits 1 on a refusal, and 0 with a table when nothing changes", () => {
        const now = run("--json");
        assert.strictEqual(now.status, 0, now.stderr);
        const plan = JSON.parse(now.stdout);
        fs.writeFileSync(path.join(dir, "same.json"), now.stdout);
        // The stack as it was with other server settings and a database made from another template.
        for (const r of plan.resources) {
            if (r.name === "hanzo-sql-postgres-config") {
                r.inputs.data["postgresql.conf"] += "# before\n";
            }
            if (r.name === "hanzo-sql-iam-database") {
                r.inputs.template = "template1";
            }
        }
        fs.writeFileSync(path.join(dir, "before.json"), JSON.stringify(plan));
        const same = run("--from", path.join(dir, "same.json"));
        assert.deepStrictEqual(
            [same.status, same.stdout.split("\n").slice(0, 2)],
            [0, [`engine steps (CLI ${requiredCliVersion(PROJECT_DIR)}):`, "  nothing changes"]],
        );
        const out = run("--from", path.join(dir, "before.json"), "--json");
        assert.strictEqual(out.status, 1, out.stderr);
        const steps = JSON.parse(out.stdout) as { urn: string; step: string; deleteBeforeReplace?: boolean; error?: string }[];
        const short = steps
            .filter((s) => s.step !== "same")
            .map((s) => [s.urn.slice(s.urn.lastIndexOf("::") + 2), s.step, s.deleteBeforeReplace, s.error?.split(" as ")[0]]);
        assert.deepStrictEqual(short, [
            // The provider updates ConfigMaps in place (enableConfigMapMutable); a protected Database whose
            // template changes is a replacement the engine refuses: `up` stops.
            ["hanzo-sql-postgres-config", "update", undefined, undefined],
            [
                "hanzo-sql-iam-database",
                "refused",
                undefined,
                'unable to replace resource "urn:pulumi:hanzo-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase$postgresql:index/database:Database::hanzo-sql-iam-database"',
            ],
        ]);
        assert.ok(steps.every((s) => Object.keys(s).every((k) => ["urn", "step", "deleteBeforeReplace", "error"].includes(k))));
    });

    it("says what is wrong with a file that is not a plan, and that --live goes with --from", () => {
        fs.writeFileSync(path.join(dir, "bad.json"), JSON.stringify({ stack: "x" }));
        const bad = run("--from", path.join(dir, "bad.json"));
        assert.strictEqual(bad.status, 1);
        assert.match(
            bad.stderr,
            /--from .*bad\.json: not a plan \(expected \{"resources": \[\{"urn", "type", "inputs", "options", \.\.\.\}\]\}\); write one with `npm run -s plan -- --stack <name> --json > before\.json` before the change/,
        );
        const usage = run("--live", "x.json");
        assert.strictEqual(usage.status, 2);
        assert.match(usage.stderr, /--live and --cli-version go with --from <before\.json>/);
    });
});
