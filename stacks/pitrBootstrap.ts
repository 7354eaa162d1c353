/**
 * `pitrBootstrapFrom`: a new stack's server restored from another stack's WAL archive on its first start
 * (docs/pitr.md "Into a new stack"; CloudNativePG's bootstrap.recovery). The source is a bucket and the
 * repository path in it (the other stack's pgBackRest repo1-path), reached at this stack's backup endpoint
 * and region with this stack's backup keys; the target is a time, an LSN or a named restore point, or none:
 * the end of the archive. Rendered as the server pod's pitr-bootstrap init container
 * (render/pods/bootstrap.ts), which restores onto an empty volume only.
 */
import { z } from "zod";
import type { BootstrapTarget } from "../render/pods/bootstrap";
import { pattern, rule, text } from "./zodHelpers";

const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(\+[0-9]{2}|Z)$/;
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;
/** A restore point's name as pg_create_restore_point took it; kept to what reaches a pgBackRest option safely. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const BOOTSTRAP_FROM = z
    .strictObject(
        {
            bucket: text().superRefine(
                pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be the source stack's bucket name, e.g. hanzo-k8s-postgres-backups"),
            ),
            path: text().superRefine(
                pattern(/^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "must be the source stack's repository path in its bucket, e.g. /pitr"),
            ),
            time: text()
                .superRefine(pattern(TIME, 'must be a UTC time such as "2026-12-05 02:30:00+00" (the restore stops before it)'))
                .optional(),
            lsn: text()
                .superRefine(pattern(LSN, 'must be an LSN such as "0/5000060" (upper-case hex, as pg_current_wal_lsn() prints it)'))
                .optional(),
            name: text()
                .superRefine(pattern(NAME, "must be a restore point's name (letters, digits, . _ -), as given to pg_create_restore_point"))
                .optional(),
        },
        {
            error: (iss) =>
                iss.code === "unrecognized_keys"
                    ? "unknown field; pitrBootstrapFrom takes bucket, path and at most one of time, lsn, name"
                    : iss.input === undefined || typeof iss.input !== "object"
                      ? "must be an object: { bucket, path, and at most one of time, lsn, name (none: the end of the archive) }"
                      : undefined,
        },
    )
    .superRefine(
        rule((v: { time?: string; lsn?: string; name?: string }) => {
            const given = (["time", "lsn", "name"] as const).filter((k) => v[k] !== undefined);
            return given.length > 1
                ? `gives ${given.join(" and ")}: a restore stops at one target; keep one of them (none: the end of the archive)`
                : undefined;
        }),
    );

export type BootstrapFrom = z.output<typeof BOOTSTRAP_FROM>;

/** The init container's target from the key. */
export function bootstrapTarget(b: BootstrapFrom): BootstrapTarget {
    return b.time !== undefined
        ? { type: "time", target: b.time }
        : b.lsn !== undefined
          ? { type: "lsn", target: b.lsn }
          : b.name !== undefined
            ? { type: "name", target: b.name }
            : { type: "latest" };
}
