/**
 * Every resource that holds data, with every input whose change makes its provider replace it (delete and
 * create again: for these, data loss), written once. The program takes its resource options from here and
 * the data-protection policy checks them. Imports only its siblings, so the policy pack can load it as is.
 *
 * Which inputs force a replacement is each provider's rule, written once in ./forceNew.ts (with the source of
 * each); `replacedOn` is that list (plus the program's own `replaceOnChanges`), not a second hand-kept copy.
 * The engine-step model (cli/plan/steps.ts) evaluates whole transitions with the same rules.
 */
import { forceNewPaths } from "./forceNew";
import { TYPES } from "./types";

type Holder = Omit<DataHolder, "replacedOn">;

const HOLDERS: Readonly<Record<string, Holder>> = {
    [TYPES.statefulSet]: {
        holds: "the server; its claim template names the data volume",
        // The template only shapes claims made later: size changes go to the claim itself (the PVC patch).
        ignoreChanges: ["spec.volumeClaimTemplates"],
        replaceOnChanges: [],
        protect: true,
    },
    [TYPES.pvcPatch]: {
        holds: "nothing itself: it sets the size of the claim that holds PGDATA",
        ignoreChanges: [],
        replaceOnChanges: [],
        protect: false,
    },
    [TYPES.database]: {
        holds: "a service's data",
        ignoreChanges: [],
        replaceOnChanges: [],
        protect: true,
    },
    [TYPES.spacesBucket]: {
        holds: "the backups",
        ignoreChanges: [],
        // A new name would otherwise be recorded without any bucket being renamed, and the backup job would
        // keep writing to whatever the state says: as a replacement, `protect` stops it with an error.
        replaceOnChanges: ["name"],
        protect: true,
    },
};

/** Paths without those inside another listed path (a change under `spec.selector` is one of `spec.selector`). */
function outermost(paths: string[]): string[] {
    const set = [...new Set(paths)];
    return set.filter((p) => !set.some((q) => q !== p && p.startsWith(`${q}.`))).sort();
}

export interface DataHolder {
    /** What is lost when it is replaced. */
    readonly holds: string;
    /** Inputs whose change replaces it: the provider's (./forceNew.ts) and the program's replaceOnChanges. */
    readonly replacedOn: readonly string[];
    /** Of those, the ones the program lets change while the provider ignores them (handled another way). */
    readonly ignoreChanges: readonly string[];
    /** Inputs the provider would update in place but that must replace, so that `protect` stops them. */
    readonly replaceOnChanges: readonly string[];
    /** Must be `protect`ed outside the test environment (else retainOnDelete is enough: it holds no data itself). */
    readonly protect: boolean;
}

export const DATA_HOLDERS: Readonly<Record<string, DataHolder>> = Object.fromEntries(
    Object.entries(HOLDERS).map(([type, h]) => [type, { ...h, replacedOn: outermost([...forceNewPaths(type), ...h.replaceOnChanges]) }]),
);

/** The resource options a data-holding resource of this type gets from here. */
export function replacementOptions(type: string): { ignoreChanges?: string[]; replaceOnChanges?: string[] } {
    const h = DATA_HOLDERS[type];
    return {
        ...(h.ignoreChanges.length > 0 ? { ignoreChanges: [...h.ignoreChanges] } : {}),
        ...(h.replaceOnChanges.length > 0 ? { replaceOnChanges: [...h.replaceOnChanges] } : {}),
    };
}
