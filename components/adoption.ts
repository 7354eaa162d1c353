import type * as pulumi from "@pulumi/pulumi";

/**
 * How the program takes over the seed's Kubernetes objects (`adopt`), object by object, by the rules the
 * engine and pulumi-kubernetes apply (docs/running-pulumi-up.md has the table):
 *
 * - `import` with the seed's ID, `<namespace>/<name>`: the engine reads the live object and, since 3.174.0,
 *   updates it in the same `up` when the program's inputs differ (`continueStepsFromImport`,
 *   pkg/resource/deploy/step_generator.go). A *replacement* of an imported resource is refused for as long as
 *   the program names the ID ("previously-imported resources that still specify an ID may not be replaced",
 *   same file), and `adopt` stays set, so every adopted object must be declared so that no change to it is ever
 *   replace-forcing: the StatefulSet's selector, serviceName and defaults as the seed's (postgresInstance.ts),
 *   the Secret's content mutable (components/cluster.ts), the Service's `clusterIP` left as it is
 *   ({@link ADOPTED_SERVICE_IGNORE}).
 * - `pulumi.com/patchForce: "true"` on each of them ({@link adoptionAnnotations}): pulumi-kubernetes updates by
 *   server-side apply and takes over only the field managers `kubectl` (apply and client-side apply),
 *   `before-first-apply` and its own (`fixCSAFieldManagers`, provider/pkg/await/await.go); fields another
 *   manager set (Helm, Argo CD) conflict and fail the update, and `preview` does not force either
 *   (`patchForce`, same file: only the annotation, `enablePatchForce`, or an object without managedFields
 *   force). With the annotation the program's values win, in `preview` and `up`.
 */
export const PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce";

/** Annotations of an adopted Kubernetes object: force server-side apply over other field managers. */
export function adoptionAnnotations(adopt: boolean): Record<string, string> {
    return adopt ? { [PATCH_FORCE_ANNOTATION]: "true" } : {};
}

/**
 * The adopted Service keeps the cluster IP it has: `.spec.clusterIP` forces a replacement (the `core` kinds of
 * `forceNew`, provider/pkg/provider/diff.go), which the engine refuses for an imported resource. HIP-29's
 * Service is meant to be headless (`clusterIP: None`, the program's value, so then nothing changes), but its
 * published manifest lost its indentation; one applied as a ClusterIP Service keeps working under its name
 * (`postgres.<namespace>.svc`, what every service connects to), without per-pod DNS names, which nothing here uses.
 */
export const ADOPTED_SERVICE_IGNORE = ["spec.clusterIP"];

/** The options of a Kubernetes object adopted by import (`<namespace>/<name>`); none when not adopting. */
export function adoptedObject(adopt: boolean, id: string, ignoreChanges: readonly string[] = []): pulumi.CustomResourceOptions {
    if (!adopt) {
        return {};
    }
    return { import: id, ...(ignoreChanges.length > 0 ? { ignoreChanges: [...ignoreChanges] } : {}) };
}
