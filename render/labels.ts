import { PROJECT } from "../policies/standard/types";

/** What every Kubernetes object of the program says it belongs to (`app.kubernetes.io/part-of`). */
export const PART_OF = PROJECT;

/** `app.kubernetes.io/instance`: which one (the server's StatefulSet, the standbys' selects its pods by it). */
export const INSTANCE_LABEL = "app.kubernetes.io/instance";

/** The parts of an object's labels, each optional; `part-of` is always there. */
export interface LabelParts {
    /** The pod selector's key (`app`): the server's and the pooler's pods are selected by it. */
    readonly app?: string;
    /** `app.kubernetes.io/name`: what runs (postgresql, pgbouncer, the CronJob's name). */
    readonly name?: string;
    /** `app.kubernetes.io/instance`: which one of it (the server's name). */
    readonly instance?: string;
    /** Labels of the object's own, after the common ones (a Prometheus `release`, a service's name). */
    readonly extra?: Readonly<Record<string, string>>;
}

/**
 * The labels of an object of the program: Kubernetes' recommended `app.kubernetes.io/*` labels
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/), always with
 * `part-of: hanzo-sql`, in one order for every object.
 */
export function labels(parts: LabelParts = {}): Record<string, string> {
    return {
        ...(parts.app !== undefined ? { app: parts.app } : {}),
        ...(parts.name !== undefined ? { "app.kubernetes.io/name": parts.name } : {}),
        ...(parts.instance !== undefined ? { [INSTANCE_LABEL]: parts.instance } : {}),
        "app.kubernetes.io/part-of": PART_OF,
        ...parts.extra,
    };
}
