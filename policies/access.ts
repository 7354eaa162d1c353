/**
 * Who may reach whose data inside the server: role memberships, privileges across services' databases, and
 * the extensions a database may have. Service roles own their database and nothing else (STANDARD §4).
 */
import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import {
    ADMIN_ROLE,
    BACKUP_ROLE,
    MAINTENANCE_DATABASES,
    PREDEFINED_ROLES,
    SUPERUSER_EQUIVALENT_ROLES,
    SYSTEM_ROLES,
    SYSTEM_ROLE_MEMBERSHIPS,
    databaseOfRole,
    extensionProblem,
} from "./standard/rules";
import { T, known, list, ofType, pgName, plainStack, str } from "./lib";

/** Each database of the stack (by name) and the role that owns it: the service's. */
function owners(args: StackValidationArgs): Map<string, string> {
    const m = new Map<string, string>();
    for (const db of ofType(args, T.database)) {
        const owner = str(db.props?.owner);
        if (known(pgName(db)) && owner !== undefined) {
            m.set(pgName(db), owner);
        }
    }
    return m;
}

/** The database a role serves: the one it owns in the stack, else the one its `<database>_user` name says. */
function serviceDatabaseOf(role: string, dbOwners: Map<string, string>): string | undefined {
    for (const [db, owner] of dbOwners) {
        if (owner === role) {
            return db;
        }
    }
    const named = databaseOfRole(role);
    return named !== undefined && dbOwners.has(named) ? named : undefined;
}

/** Why `member` may not be a member of `granted`, or undefined when the standard gives it that membership. */
function membershipProblem(member: string, granted: string, dbOwners: Map<string, string>): string | undefined {
    if (member === ADMIN_ROLE || SYSTEM_ROLE_MEMBERSHIPS[member]?.includes(granted)) {
        return undefined;
    }
    if (SUPERUSER_EQUIVALENT_ROLES.includes(granted)) {
        return "which makes it a superuser in all but name";
    }
    if (granted in PREDEFINED_ROLES) {
        return `so it ${PREDEFINED_ROLES[granted]}`;
    }
    if (SYSTEM_ROLES.includes(granted)) {
        return `the role of the server's own ${granted === BACKUP_ROLE ? "backups" : "metrics"}, which reaches every service's data or statistics`;
    }
    const db = serviceDatabaseOf(granted, dbOwners);
    if (db !== undefined && serviceDatabaseOf(member, dbOwners) !== db) {
        return `the role of another service, which owns database "${db}"`;
    }
    return undefined;
}

/**
 * role-memberships: no role but the administrator is a member of `hanzo`, of a predefined role, of the
 * server's own backup or metrics role, or of another service's role, whether through a Role's `roles` or a
 * GrantRole (`GRANT x TO y`); the backup role is a member of pg_read_all_data and the metrics role of
 * pg_monitor, exactly as the program grants them (SYSTEM_ROLE_MEMBERSHIPS), and nothing else.
 *
 * Protects: membership hands over every privilege of the role granted (SET ROLE, and INHERIT by default):
 * `hanzo` or the file and program roles make a service a superuser in all but name, pg_read_all_data and
 * pg_write_all_data open every service's tables, pg_signal_backend kills their sessions, another service's
 * role opens its database. Instead: a service role owns its own database, which is all it needs; the
 * server's own jobs keep the memberships the standard gives them.
 */
export const roleMemberships: StackValidationPolicy = {
    name: "role-memberships",
    description:
        "No role but the administrator is a member of hanzo, a predefined role, the backup or metrics role, or another service's role (Role.roles or GrantRole); the server's own roles have exactly their standard memberships.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const dbOwners = owners(args);
        for (const r of ofType(args, T.role)) {
            const member = pgName(r);
            if (!known(member) || !known(r.props?.roles)) {
                continue;
            }
            const granted = list<unknown>(r.props.roles).filter((g): g is string => str(g) !== undefined);
            const superuser = granted.filter((g) => member !== ADMIN_ROLE && SUPERUSER_EQUIVALENT_ROLES.includes(g));
            if (superuser.length > 0) {
                report(
                    `role "${member}" is a member of ${superuser.map((g) => `"${g}"`).join(", ")}, which makes it a superuser in all but name; remove the membership.`,
                    r.urn,
                );
            }
            for (const g of granted.filter((x) => !superuser.includes(x))) {
                const problem = membershipProblem(member, g, dbOwners);
                if (problem !== undefined) {
                    report(`role "${member}" is a member of "${g}", ${problem}; remove the membership.`, r.urn);
                }
            }
        }
        for (const g of ofType(args, T.grantRole)) {
            const member = str(g.props?.role);
            const granted = str(g.props?.grantRole);
            if (member === undefined || granted === undefined) {
                continue;
            }
            const problem = membershipProblem(member, granted, dbOwners);
            if (problem !== undefined) {
                report(`GrantRole "${g.name}" makes "${member}" a member of "${granted}", ${problem}; remove the grant.`, g.urn);
            } else if (g.props?.withAdminOption === true && member !== ADMIN_ROLE) {
                report(
                    `GrantRole "${g.name}" lets "${member}" grant "${granted}" to any role (withAdminOption); only "${ADMIN_ROLE}" grants memberships.`,
                    g.urn,
                );
            }
        }
    },
};

/** What a Grant or DefaultPrivileges gives, upper-cased; [] is a revoke. */
function privilegesOf(r: PolicyResource): string[] | undefined {
    const p = r.props?.privileges;
    return known(p) && list(p).every(known) ? list<string>(p).map((x) => String(x).toUpperCase()) : undefined;
}

/** The grants the program itself makes across databases: the backup role's CONNECT on each service database. */
function standardCrossGrant(role: string, objectType: string, privileges: string[]): boolean {
    return role === BACKUP_ROLE && objectType === "database" && privileges.every((p) => p === "CONNECT");
}

/**
 * cross-service-privileges: no Grant or DefaultPrivileges gives another service's role, the metrics role, any
 * other role or PUBLIC a privilege on a service's database or on anything in it (CONNECT and TEMPORARY on the
 * database, a schema, its tables, sequences, functions, columns, foreign servers, default privileges of
 * objects made later). Only the database's owner (its service role) and the administrator hold privileges
 * there; the backup role is given CONNECT (it reads through pg_read_all_data). A Grant with no privileges is
 * a revoke and always allowed. The maintenance databases are maintenance-databases-closed's.
 *
 * Protects: one service's compromise stays in its own database; PUBLIC includes every role, present and
 * future. Instead: a service that needs another's data asks that service's API, or the data moves.
 */
export const crossServicePrivileges: StackValidationPolicy = {
    name: "cross-service-privileges",
    description:
        "No Grant or DefaultPrivileges gives another service's role, another role or PUBLIC privileges on a service's database, schemas or objects (CONNECT and TEMPORARY included).",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const dbOwners = owners(args);
        const grants = [...ofType(args, T.grant), ...ofType(args, T.defaultPrivileges), ...ofType(args, T.defaultPrivileg)];
        for (const g of grants) {
            const db = str(g.props?.database);
            const role = str(g.props?.role);
            const objectType = str(g.props?.objectType) ?? "";
            const privileges = privilegesOf(g);
            if (db === undefined || role === undefined || privileges === undefined || MAINTENANCE_DATABASES.includes(db)) {
                continue;
            }
            const owner = dbOwners.get(db);
            if (privileges.length === 0 || role === ADMIN_ROLE || role === owner || standardCrossGrant(role, objectType, privileges)) {
                continue;
            }
            const isPublic = role.toLowerCase() === "public";
            const who = isPublic ? "PUBLIC (every role)" : `"${role}"`;
            const kind = g.type === T.grant ? "Grant" : "DefaultPrivileges";
            const schema = str(g.props?.schema);
            const future = g.type === T.grant ? "" : "future ";
            const what =
                objectType === "database"
                    ? `database "${db}"`
                    : objectType === "schema"
                      ? `${future}schema${schema ? ` "${schema}"` : "s"} in database "${db}"`
                      : `${future}${objectType}s${schema ? ` in schema "${schema}"` : ""} of database "${db}"`;
            const whose = owner !== undefined ? `, which belongs to "${owner}"` : "";
            report(
                `${kind} "${g.name}" gives ${who} ${privileges.join(", ")} on ${what}${whose}; only its owner and "${ADMIN_ROLE}" hold privileges there.`,
                g.urn,
            );
        }
    },
};

/**
 * safe-extensions: no database gets an extension that reaches the server's files, other servers or the
 * operating system, or that the standard's image does not ship: adminpack, file_fdw, postgres_fdw, dblink, the
 * untrusted languages (plpython3u, plperlu, pltclu), pageinspect, pg_surgery, pg_visibility, pg_walinspect
 * and anything outside the standard's list (policies/standard/extensions.ts, each with its reason). The
 * untrusted ones the standard ships (vector, pg_stat_statements, amcheck, pg_buffercache, pg_prewarm,
 * pgstattuple) reach none of these.
 *
 * Protects: the provider creates extensions as the superuser, so whatever an extension can do, any role it
 * grants its functions to can do; a file or network reach turns a service's SQL into the server's files,
 * the metadata service or the superuser. Instead: what the standard lists, in the service's own database.
 */
export const safeExtensions: StackValidationPolicy = {
    name: "safe-extensions",
    description:
        "No extension that reaches files, other servers or the OS (adminpack, file_fdw, postgres_fdw, dblink, untrusted languages, …) or that the standard's image does not ship.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        for (const e of ofType(args, T.extension)) {
            const name = pgName(e);
            if (!known(name)) {
                continue;
            }
            const problem = extensionProblem(name);
            if (problem !== undefined) {
                report(
                    `Extension "${name}" in database "${str(e.props?.database) ?? "?"}" ${problem.startsWith("is ") ? problem : `is refused: it ${problem}`}; remove it.`,
                    e.urn,
                );
            }
        }
    },
};
