/**
 * Every resource that holds data, with every input whose change makes its provider replace it (delete and
 * create again: for these, data loss), written once. The program takes its resource options from here and
 * the data-protection policy checks them. Imports only its siblings, so the policy pack can load it as is.
 *
 * Sources (read, not guessed):
 * - StatefulSet: `statefulSet` and `metadataForceNewProperties` in pulumi-kubernetes
 *   provider/pkg/provider/diff.go;
 * - PersistentVolumeClaim(Patch): `PersistentVolumeClaim` in the same file;
 * - Database: the `ForceNew` attributes of postgresql/resource_postgresql_database.go in
 *   cyrilgdn/terraform-provider-postgresql (a changed `name` is `ALTER DATABASE … RENAME TO`, `setDBName`);
 * - SpacesBucket: digitalocean/spaces/resource_spaces_bucket.go in digitalocean/terraform-provider-digitalocean:
 *   only `region` is ForceNew; a changed `name` is "updated" in state while the bucket keeps its old name.
 */
import { TYPES } from "./types";

export interface DataHolder {
    /** What is lost when it is replaced. */
    readonly holds: string;
    /** Inputs whose change replaces it (paths as Pulumi's ignoreChanges/replaceOnChanges take them). */
    readonly replacedOn: readonly string[];
    /** Of those, the ones the program lets change while the provider ignores them (handled another way). */
    readonly ignoreChanges: readonly string[];
    /** Inputs the provider would update in place but that must replace, so that `protect` stops them. */
    readonly replaceOnChanges: readonly string[];
    /** Must be `protect`ed outside the test environment (else retainOnDelete is enough: it holds no data itself). */
    readonly protect: boolean;
}

export const DATA_HOLDERS: Readonly<Record<string, DataHolder>> = {
    [TYPES.statefulSet]: {
        holds: "the server; its claim template names the data volume",
        replacedOn: [
            "metadata.name",
            "metadata.namespace",
            "spec.podManagementPolicy",
            "spec.revisionHistoryLimit",
            "spec.selector",
            "spec.serviceName",
            "spec.volumeClaimTemplates",
        ],
        // The template only shapes claims made later: size changes go to the claim itself (the PVC patch).
        ignoreChanges: ["spec.volumeClaimTemplates"],
        replaceOnChanges: [],
        protect: true,
    },
    [TYPES.pvcPatch]: {
        holds: "nothing itself: it sets the size of the claim that holds PGDATA",
        replacedOn: [
            "metadata.name",
            "metadata.namespace",
            "spec.accessModes",
            "spec.selector",
            "spec.storageClassName",
            "spec.volumeName",
        ],
        ignoreChanges: [],
        replaceOnChanges: [],
        protect: false,
    },
    [TYPES.database]: {
        holds: "a service's data",
        replacedOn: ["template", "encoding", "lcCollate", "lcCtype"],
        ignoreChanges: [],
        replaceOnChanges: [],
        protect: true,
    },
    [TYPES.spacesBucket]: {
        holds: "the backups",
        replacedOn: ["region", "name"],
        ignoreChanges: [],
        // A new name would otherwise be recorded without any bucket being renamed, and the backup job would
        // keep writing to whatever the state says: as a replacement, `protect` stops it with an error.
        replaceOnChanges: ["name"],
        protect: true,
    },
};

/** The resource options a data-holding resource of this type gets from here. */
export function replacementOptions(type: string): { ignoreChanges?: string[]; replaceOnChanges?: string[] } {
    const h = DATA_HOLDERS[type];
    return {
        ...(h.ignoreChanges.length > 0 ? { ignoreChanges: [...h.ignoreChanges] } : {}),
        ...(h.replaceOnChanges.length > 0 ? { replaceOnChanges: [...h.replaceOnChanges] } : {}),
    };
}
