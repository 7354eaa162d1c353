/**
 * The KMS sync resource of a service (HIP-29 §Credential Management): a custom resource of one of the KMS
 * operators' CRDs that makes the operator copy the service's DATABASE_URL from the KMS into a Secret of its
 * own. The CRDs disagree on names, so each supported one is declared here with what its schema requires
 * (our fixture of its `openAPIV3Schema`, reduced to the required fields and the fields we set, citing where
 * it comes from); the plan validates every rendered resource against it, and the tests validate it against
 * the published CRD (its v1alpha1 schema kept in test/fixtures/crds/, checked against `../shared/crds/` where that is beside the repository).
 */
import { labels } from "./labels";
import type { OpenApiSchema } from "./openApiSchema";

export interface KmsSyncCrd {
    readonly apiVersion: string;
    readonly kind: string;
    /** Who serves it. */
    readonly operator: string;
    /** Where its CRD is published. */
    readonly source: string;
    /** Whether `secretsScope.keys` (the secret names to fetch) is required: Hanzo's canonical surface has no list endpoint. */
    readonly requiresKeys: boolean;
    /** Our fixture of its openAPIV3Schema (required fields and the fields the program sets). */
    readonly schema: OpenApiSchema;
}

const STRING: OpenApiSchema = { type: "string" };
const SECRET_REF: OpenApiSchema = {
    type: "object",
    properties: { secretName: STRING, secretNamespace: STRING },
    required: ["secretName", "secretNamespace"],
};

/** The CR's schema: universal auth with a project-scoped path, a managed Secret, the resync interval. */
function syncSchema(keys: boolean, specRequired: string[]): OpenApiSchema {
    const scope: OpenApiSchema = {
        type: "object",
        properties: {
            envSlug: STRING,
            projectSlug: STRING,
            secretsPath: STRING,
            recursive: { type: "boolean" },
            ...(keys ? { keys: { type: "array", items: STRING, minItems: 1, maxItems: 128 } } : {}),
        },
        required: keys ? ["envSlug", "keys", "projectSlug", "secretsPath"] : ["envSlug", "projectSlug", "secretsPath"],
    };
    if (keys) {
        // The newest operator has no `recursive` here.
        delete (scope.properties as Record<string, OpenApiSchema>).recursive;
    }
    return {
        type: "object",
        properties: {
            apiVersion: STRING,
            kind: STRING,
            metadata: { type: "object" },
            spec: {
                type: "object",
                properties: {
                    authentication: {
                        type: "object",
                        properties: {
                            universalAuth: {
                                type: "object",
                                properties: { credentialsRef: SECRET_REF, secretsScope: scope },
                                required: ["credentialsRef", "secretsScope"],
                            },
                        },
                    },
                    hostAPI: STRING,
                    managedSecretReference: {
                        type: "object",
                        properties: { creationPolicy: STRING, secretName: STRING, secretNamespace: STRING, secretType: STRING },
                        required: ["secretName", "secretNamespace"],
                    },
                    resyncInterval: { type: "integer" },
                },
                required: specRequired,
            },
        },
    };
}

/** The supported CRDs; the first is the default. */
export const KMS_SYNC_CRDS: readonly KmsSyncCrd[] = [
    {
        apiVersion: "kms.hanzo.ai/v1",
        kind: "KMSSecret",
        operator: "Hanzo's KMS operator",
        source: "hanzoai/kms-operator config/crd/bases/kms.hanzo.ai_kmssecrets.yaml (b4e75f5f08ef0b96351c9473a11579c38216e9d6)",
        requiresKeys: true,
        schema: syncSchema(true, ["resyncInterval"]),
    },
    {
        apiVersion: "secrets.lux.network/v1alpha1",
        kind: "KMSSecret",
        operator: "Hanzo's KMS operator, earlier releases",
        source: "hanzoai/kms-operator config/crd/bases/secrets.lux.network_kmssecrets.yaml (893119b82a654c418128c4f9397c7cd2ef100551; its v1alpha1 schema in test/fixtures/crds/)",
        requiresKeys: false,
        schema: syncSchema(false, ["resyncInterval"]),
    },
    {
        apiVersion: "secrets.infisical.com/v1alpha1",
        kind: "InfisicalSecret",
        operator: "upstream Infisical",
        source: "Infisical/infisical k8-operator/config/crd/bases/secrets.infisical.com_infisicalsecrets.yaml (092665737fc337f4535c615316ba976837a515df)",
        requiresKeys: false,
        schema: syncSchema(false, ["managedSecretReference", "resyncInterval"]),
    },
];

/** The supported CRD of an apiVersion and kind, or undefined. */
export function kmsSyncCrd(apiVersion: string, kind: string): KmsSyncCrd | undefined {
    return KMS_SYNC_CRDS.find((c) => c.apiVersion === apiVersion && c.kind === kind);
}

/** The Pulumi type token of a supported CRD's resources (`kubernetes:kms.hanzo.ai/v1:KMSSecret`). */
export function kmsSyncType(crd: { apiVersion: string; kind: string }): string {
    return `kubernetes:${crd.apiVersion}:${crd.kind}`;
}

export interface KmsSyncParams {
    readonly apiVersion: string;
    readonly kind: string;
    readonly projectSlug: string;
    readonly envSlug: string;
    readonly hostAPI: string;
    readonly resyncInterval: number;
    readonly credentialsSecret: string;
    /** The CR's name and namespace. */
    readonly name: string;
    readonly namespace: string;
    /** KMS path of the service's secrets: `/<service>`. */
    readonly secretsPath: string;
    /** The Secret the operator writes (never the program's own). */
    readonly targetSecret: string;
}

/** The key the KMS holds for a service, and the only one a sync fetches. */
export const KMS_KEYS = ["DATABASE_URL"] as const;

/** The custom resource of a service's KMS sync, for the CRD `apiVersion`/`kind` name. */
export function renderKmsSync(p: KmsSyncParams): {
    apiVersion: string;
    kind: string;
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
} {
    const crd = kmsSyncCrd(p.apiVersion, p.kind);
    if (!crd) {
        throw new Error(`no supported KMS CRD is ${p.apiVersion} ${p.kind}`);
    }
    return {
        apiVersion: p.apiVersion,
        kind: p.kind,
        metadata: { name: p.name, namespace: p.namespace, labels: labels() },
        spec: {
            hostAPI: p.hostAPI,
            resyncInterval: p.resyncInterval,
            authentication: {
                universalAuth: {
                    secretsScope: {
                        projectSlug: p.projectSlug,
                        envSlug: p.envSlug,
                        secretsPath: p.secretsPath,
                        ...(crd.requiresKeys ? { keys: [...KMS_KEYS] } : {}),
                    },
                    credentialsRef: { secretName: p.credentialsSecret, secretNamespace: p.namespace },
                },
            },
            managedSecretReference: {
                secretName: p.targetSecret,
                secretNamespace: p.namespace,
                secretType: "Opaque",
                creationPolicy: "Orphan",
            },
        },
    };
}
