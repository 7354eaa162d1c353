import * as assert from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { KMS_SYNC_CRDS, kmsSyncType } from "../../render/kmsSync";
import { OpenApiSchema, openApiProblems } from "../../render/openApiSchema";
import { validateManifest, validatePlan } from "../../cli/plan/kubernetes";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { TYPES, ofType, planWith, resource } from "../support/plan";

/**
 * The published secrets.lux.network CRD's v1alpha1 schema, kept in the repository (test/fixtures/crds, its source
 * named in the file) so that a clone anywhere runs this test. `../shared/crds/` beside the repository, where it is,
 * is the copy it was taken from; the drift test below compares them.
 */
const PUBLISHED_FIXTURE = path.join(PROJECT_DIR, "test", "fixtures", "crds", "secrets.lux.network_kmssecrets.v1alpha1.json");

function publishedCrd(): { group: string; kind: string; version: string; openAPIV3Schema: OpenApiSchema } {
    return JSON.parse(fs.readFileSync(PUBLISHED_FIXTURE, "utf8"));
}

/** `../shared/crds/<file>` looked up from the project upwards, or undefined where no such directory is. */
function sharedCrd(file: string): Record<string, any> | undefined {
    for (let dir = PROJECT_DIR; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
        const candidate = path.join(dir, "shared", "crds", file);
        if (fs.existsSync(candidate)) {
            return yaml.load(fs.readFileSync(candidate, "utf8")) as Record<string, any>;
        }
    }
    return undefined;
}

/** The openAPIV3Schema of a CRD's version. */
function schemaOf(crd: Record<string, any>, version: string): OpenApiSchema {
    return crd.spec.versions.find((v: { name: string }) => v.name === version).schema.openAPIV3Schema;
}

const VALUES = {
    environment: "prod",
    clusterName: "hanzo-k8s",
    kmsEnabled: true,
    kmsProjectSlug: "hanzo-prod",
    services: [{ name: "iam", kmsSync: true }, "cloud"],
};

/** The CR the program renders for iam with these settings. */
function expectedCr(apiVersion: string, kind: string, keys: boolean, envSlug = "prod"): Record<string, unknown> {
    return {
        apiVersion,
        kind,
        metadata: { name: "iam-database", namespace: "hanzo", labels: { "app.kubernetes.io/part-of": "hanzo-sql" } },
        spec: {
            hostAPI: "https://kms.hanzo.ai/api",
            resyncInterval: 60,
            authentication: {
                universalAuth: {
                    secretsScope: { projectSlug: "hanzo-prod", envSlug, secretsPath: "/iam", ...(keys ? { keys: ["DATABASE_URL"] } : {}) },
                    credentialsRef: { secretName: "kms-universal-auth", secretNamespace: "hanzo" },
                },
            },
            managedSecretReference: {
                secretName: "iam-database-url",
                secretNamespace: "hanzo",
                secretType: "Opaque",
                creationPolicy: "Orphan",
            },
        },
    };
}

describe("KMS credential sync against the operators' CRDs", () => {
    it("renders Hanzo's kms.hanzo.ai/v1 KMSSecret by default: projectSlug, keys [DATABASE_URL], resyncInterval, its own target Secret", async () => {
        const plan = await planWith("kms", VALUES);
        assert.deepStrictEqual(
            ofType(plan, "kubernetes:kms.hanzo.ai/v1:KMSSecret").map((k) => k.inputs),
            [expectedCr("kms.hanzo.ai/v1", "KMSSecret", true)],
        );
        // The program's Secret keeps its own name: the two never write the same Secret.
        assert.strictEqual((resource(plan, TYPES.secret, "hanzo-sql-iam-connection").inputs as any).metadata.name, "iam-database");
    });

    it("renders the older secrets.lux.network KMSSecret and upstream Infisical's InfisicalSecret when configured", async () => {
        const lux = await planWith("kms-lux", { ...VALUES, kmsApiVersion: "secrets.lux.network/v1alpha1" });
        assert.deepStrictEqual(
            ofType(lux, "kubernetes:secrets.lux.network/v1alpha1:KMSSecret").map((k) => k.inputs),
            [expectedCr("secrets.lux.network/v1alpha1", "KMSSecret", false)],
        );
        const inf = await planWith("kms-inf", {
            ...VALUES,
            kmsApiVersion: "secrets.infisical.com/v1alpha1",
            kmsKind: "InfisicalSecret",
            kmsEnvSlug: "staging",
        });
        assert.deepStrictEqual(
            ofType(inf, "kubernetes:secrets.infisical.com/v1alpha1:InfisicalSecret").map((k) => k.inputs),
            [expectedCr("secrets.infisical.com/v1alpha1", "InfisicalSecret", false, "staging")],
        );
    });

    for (const crd of KMS_SYNC_CRDS) {
        it(`validates the rendered ${crd.apiVersion} ${crd.kind} against its schema, and rejects it without projectSlug, keys or resyncInterval`, async () => {
            const plan = await planWith("kms-v", { ...VALUES, kmsApiVersion: crd.apiVersion, kmsKind: crd.kind });
            const cr = ofType(plan, kmsSyncType(crd))[0].inputs as any;
            assert.deepStrictEqual(openApiProblems(crd.schema, cr), []);
            assert.deepStrictEqual(validateManifest(kmsSyncType(crd), cr), []);
            const without = (mutate: (x: any) => void) => {
                const copy = JSON.parse(JSON.stringify(cr));
                mutate(copy);
                return validateManifest(kmsSyncType(crd), copy);
            };
            assert.deepStrictEqual(
                without((x) => delete x.spec.authentication.universalAuth.secretsScope.projectSlug),
                ["/spec/authentication/universalAuth/secretsScope/projectSlug: required"],
            );
            assert.deepStrictEqual(
                without((x) => delete x.spec.resyncInterval),
                ["/spec/resyncInterval: required"],
            );
            assert.deepStrictEqual(
                without((x) => (x.spec.resyncInterval = "60")),
                ["/spec/resyncInterval: must be integer, is string"],
            );
            if (crd.requiresKeys) {
                assert.deepStrictEqual(
                    without((x) => delete x.spec.authentication.universalAuth.secretsScope.keys),
                    ["/spec/authentication/universalAuth/secretsScope/keys: required"],
                );
                assert.deepStrictEqual(
                    without((x) => (x.spec.authentication.universalAuth.secretsScope.keys = [])),
                    ["/spec/authentication/universalAuth/secretsScope/keys: must have at least 1 items"],
                );
            } else {
                // A CRD without `keys` would drop the field (or reject it under strict field validation).
                assert.deepStrictEqual(
                    without((x) => (x.spec.authentication.universalAuth.secretsScope.keys = ["DATABASE_URL"])),
                    ["/spec/authentication/universalAuth/secretsScope/keys: unknown field"],
                );
            }
        });
    }

    it("validates against the published secrets.lux.network CRD (test/fixtures/crds), and our fixture requires what it requires", async () => {
        const published = publishedCrd();
        assert.strictEqual(published.group, "secrets.lux.network");
        assert.strictEqual(published.kind, "KMSSecret");
        assert.strictEqual(published.version, "v1alpha1");
        const schema = published.openAPIV3Schema;
        const plan = await planWith("kms-lux", { ...VALUES, kmsApiVersion: "secrets.lux.network/v1alpha1" });
        const cr = ofType(plan, "kubernetes:secrets.lux.network/v1alpha1:KMSSecret")[0].inputs;
        assert.deepStrictEqual(openApiProblems(schema, cr), []);
        // The seed's resource (no projectSlug, no resyncInterval) fails the published schema.
        const seed = JSON.parse(JSON.stringify(cr));
        delete seed.spec.resyncInterval;
        delete seed.spec.authentication.universalAuth.secretsScope.projectSlug;
        assert.deepStrictEqual(openApiProblems(schema, seed), [
            "/spec/resyncInterval: required",
            "/spec/authentication/universalAuth/secretsScope/projectSlug: required",
        ]);
        // Our fixture agrees with the published schema on every path it declares: type and required fields.
        const fixture = KMS_SYNC_CRDS.find((c) => c.apiVersion === "secrets.lux.network/v1alpha1")!.schema;
        const compare = (ours: OpenApiSchema, theirs: OpenApiSchema, at: string) => {
            assert.ok(theirs, `${at} exists in the published schema`);
            assert.strictEqual(ours.type, theirs.type, `${at} type`);
            assert.deepStrictEqual([...(ours.required ?? [])].sort(), [...(theirs.required ?? [])].sort(), `${at} required`);
            for (const [k, sub] of Object.entries(ours.properties ?? {})) {
                if (at === "" && k === "metadata") {
                    continue;
                }
                compare(sub, theirs.properties?.[k] as OpenApiSchema, `${at}/${k}`);
            }
        };
        compare(fixture.properties!.spec, schema.properties!.spec, "/spec");
    });

    it("the repository's copy of the published CRD is the one in ../shared/crds, where that directory is beside it", function () {
        const shared = sharedCrd("secrets.lux.network_kmssecrets.yaml");
        if (!shared) {
            // A clone with no ../shared beside it (e.g. /tmp/ci-check) has nothing to compare against.
            this.skip();
        }
        const published = publishedCrd();
        assert.strictEqual(shared.spec.group, published.group);
        assert.strictEqual(shared.spec.names.kind, published.kind);
        assert.deepStrictEqual(schemaOf(shared, published.version), published.openAPIV3Schema);
    });

    it("fails the plan when a KMS resource does not validate", async () => {
        const plan = await planWith("kms", VALUES);
        const cr = ofType(plan, "kubernetes:kms.hanzo.ai/v1:KMSSecret")[0];
        const broken = JSON.parse(JSON.stringify(cr.inputs));
        delete broken.spec.authentication.universalAuth.secretsScope.keys;
        assert.deepStrictEqual(validatePlan([cr], new Map([[cr.urn, broken]])), [
            "kubernetes:kms.hanzo.ai/v1:KMSSecret hanzo-sql-iam-kms-sync: /spec/authentication/universalAuth/secretsScope/keys: required",
        ]);
        assert.deepStrictEqual(validatePlan([cr], plan.revealed), []);
    });

    it("rejects, before any resource, a missing kmsProjectSlug, an unsupported CRD and a sync without the stack's KMS", async () => {
        const { kmsProjectSlug: _slug, ...noSlug } = VALUES;
        await assert.rejects(planWith("k1", noSlug), {
            message:
                'stack "k1": invalid configuration (1 problem); nothing was created:\n' +
                "  - hanzo-sql:kmsProjectSlug (not set): required when a service syncs from the KMS (iam): pulumi config set kmsProjectSlug <project>",
        });
        const supported =
            "kmsApiVersion + kmsKind must name a KMS operator's CRD: kms.hanzo.ai/v1 KMSSecret (Hanzo's KMS operator), " +
            "secrets.lux.network/v1alpha1 KMSSecret (Hanzo's KMS operator, earlier releases), secrets.infisical.com/v1alpha1 InfisicalSecret (upstream Infisical)";
        await assert.rejects(planWith("k2", { ...VALUES, kmsApiVersion: "secrets.hanzo.ai/v2" }), {
            message: new RegExp(`hanzo-sql:kmsApiVersion = "secrets\\.hanzo\\.ai/v2": ${supported.replace(/[().+]/g, "\\$&")}`),
        });
        // The seed's pair: a kind that no operator serves under that group.
        await assert.rejects(planWith("k3", { ...VALUES, kmsApiVersion: "secrets.infisical.com/v1alpha1", kmsKind: "KMSSecret" }), {
            message: new RegExp(`hanzo-sql:kmsKind = "KMSSecret": ${supported.replace(/[().+]/g, "\\$&")}`),
        });
        await assert.rejects(
            planWith("k4", { ...VALUES, kmsProjectSlug: "Hanzo Prod" }),
            /hanzo-sql:kmsProjectSlug = "Hanzo Prod": must be a KMS project slug \(lowercase letters, digits, hyphens\)/,
        );
        await assert.rejects(
            planWith("k5", { ...VALUES, kmsEnabled: false }),
            /hanzo-sql:services\[0\]\.kmsSync = true: needs the stack's KMS sync: pulumi config set kmsEnabled true/,
        );
    });
});
