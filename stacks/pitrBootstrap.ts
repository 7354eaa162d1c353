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
/** A role's or database's name as the program declares them (services' `<database>_user`, hanzo_backup, ...). */
const OBJECT = /^[a-z_][a-z0-9_]{0,62}$/;
const objectList = (what: string) =>
    z.array(text().superRefine(pattern(OBJECT, `must be a ${what} name (lower-case letters, digits, _)`)), {
        error: `must be a list of ${what} names`,
    });

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
            // What the restore brings that this stack also declares: imported on the first `up` (import, then
            // update: the new stack's passwords) instead of created (docs/pitr.md "Into a new stack").
            restored: z.strictObject(
                { roles: objectList("role"), databases: objectList("database").default([]) },
                {
                    error: (iss) =>
                        iss.code === "unrecognized_keys"
                            ? "unknown field; restored takes roles and databases"
                            : iss.input === undefined
                              ? "must list the roles (and databases) of the source that this stack declares too: { roles: [hanzo_backup, ...], databases: [...] }; they are imported on the first up instead of created"
                              : undefined,
                },
            ),
        },
        {
            error: (iss) =>
                iss.code === "unrecognized_keys"
                    ? "unknown field; pitrBootstrapFrom takes bucket, path, restored and at most one of time, lsn, name"
                    : iss.input === undefined || typeof iss.input !== "object"
                      ? "must be an object: { bucket, path, restored, and at most one of time, lsn, name (none: the end of the archive) }"
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

/** The roles and databases of `restored`: imported by name (the postgresql provider's ID of both). */
export interface RestoredObjects {
    readonly roles: readonly string[];
    readonly databases: readonly string[];
}

/** What the key asks the program and the server pod for (stacks/load.ts puts it in the spec). */
export interface BootstrapSpec {
    /** `<bucket><path>`: what the step restores from, for its log and mark. */
    readonly source: string;
    readonly bucket: string;
    readonly path: string;
    readonly target: BootstrapTarget;
    readonly restored: RestoredObjects;
}

export function bootstrapSpecOf(b: BootstrapFrom | undefined): BootstrapSpec | undefined {
    return b === undefined
        ? undefined
        : {
              source: `${b.bucket}${b.path}`,
              bucket: b.bucket,
              path: b.path,
              target: bootstrapTarget(b),
              restored: { roles: [...b.restored.roles], databases: [...b.restored.databases] },
          };
}

/**
 * `restored` names only what this stack declares (a role or database of the backup that the stack does not
 * declare is left in the cluster as it was: nothing imports, changes or drops it), and names the backup role,
 * which every source has: it archived, so it had backups (pitrEnabled needs backupEnabled).
 */
export function restoredProblems(
    restored: RestoredObjects,
    declared: {
        readonly roles: readonly string[];
        readonly databases: readonly string[];
        readonly admin: string;
        readonly backupRole: string;
    },
): { path: (string | number)[]; value: unknown; message: string }[] {
    const out: { path: (string | number)[]; value: unknown; message: string }[] = [];
    restored.roles.forEach((r, i) => {
        if (r === declared.admin) {
            out.push({
                path: ["roles", i],
                value: r,
                message:
                    "is the administrator: the restore step gives it this stack's password, and the program never creates it; remove it from the list",
            });
        } else if (!declared.roles.includes(r)) {
            out.push({
                path: ["roles", i],
                value: r,
                message: `is not a role this stack declares (${declared.roles.join(", ")}): the restored cluster keeps it as it was and the program never touches it; remove it from the list`,
            });
        }
    });
    restored.databases.forEach((d, i) => {
        if (!declared.databases.includes(d)) {
            out.push({
                path: ["databases", i],
                value: d,
                message: `is not a database of this stack's services (${declared.databases.join(", ") || "none"}): the restored cluster keeps it as it was and the program never touches it; remove it from the list`,
            });
        }
    });
    if (!restored.roles.includes(declared.backupRole)) {
        out.push({
            path: ["roles"],
            value: restored.roles,
            message: `lacks ${declared.backupRole}: the source archived, so it had backups, and its backup role is in the restore (CREATE ROLE would fail on it); add ${declared.backupRole}`,
        });
    }
    return out;
}
