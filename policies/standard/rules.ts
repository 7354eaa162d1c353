/**
 * The Hanzo SQL standard (HIP-29, ADR-60, as restated in STANDARD.md), written once, one module per concern:
 * naming, roles, extensions (re-exported here), settings and units, network, ports, storage, types; and here
 * what the workload's images and adopted volume must be.
 *
 * The program builds from these rules, `stacks/` rejects bad configuration with them, the policy pack rejects
 * non-compliant resources with them, and the verifier checks a live server with them. This module imports only
 * its siblings, so that the policy pack (which has its own node_modules) can load it as is.
 */
export * from "./extensions";
export * from "./naming";
export * from "./roles";
export * from "./version";

/**
 * Annotation on a StatefulSet whose data volume was adopted from the seed's deployment (STANDARD defect 19):
 * its PGDATA is the volume's mount root, where the seed's initdb put it. Such a volume is not fresh (no
 * lost+found problem), so the policy accepts that layout there and nowhere else.
 */
export const ADOPTED_VOLUME_ANNOTATION = "hanzo.ai/adopted-volume";

/** Why an image reference is not pinned, or undefined. */
export function imageProblem(image: string): string | undefined {
    if (!/^[a-z0-9][a-z0-9._\-/:@]*$/.test(image)) {
        return "must be an image reference such as pgvector/pgvector:0.8.0-pg16";
    }
    const [ref, digest] = image.split("@");
    const lastSlash = ref.lastIndexOf("/");
    const colon = ref.indexOf(":", lastSlash + 1);
    const tag = colon >= 0 ? ref.slice(colon + 1) : undefined;
    if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) {
        return "has a malformed digest; use @sha256:<64 hex digits>";
    }
    if (digest === undefined && tag === undefined) {
        return "must be pinned by a tag or digest; an untagged image means :latest, which is not reproducible (STANDARD defect 7)";
    }
    if (tag === "latest") {
        return "must not use :latest, which is not reproducible (STANDARD defect 7); pin a version tag or digest";
    }
    if (tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
        return "has a malformed tag (letters, digits, _ . - and at most 128 characters); pin a version tag or digest";
    }
    if (digest === undefined && tag !== undefined && !/[0-9]/.test(tag)) {
        return `must be pinned by a version tag or digest; "${tag}" names no version and moves like :latest (STANDARD defect 7)`;
    }
    return undefined;
}
