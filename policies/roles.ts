import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    ADMIN_ROLE,
    ADMIN_VERIFIER_KEY,
    ALLOWED_ROLE_ATTRIBUTES,
    BACKUP_ROLE,
    FORBIDDEN_ROLE_ATTRIBUTES,
    MAINTENANCE_DATABASES,
    MONITOR_DATABASE,
    MONITOR_ROLE,
} from "./standard/rules";
import {
    Container,
    KMS_SYNC_TYPES,
    T,
    WORKLOADS,
    k8sName,
    kindOf,
    list,
    ofType,
    pgName,
    plainResource,
    plainStack,
    postgresServers,
    serverContainer,
    str,
} from "./lib";

/**
 * no-superuser-roles: no role but the administrator has SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or
 * BYPASSRLS (STANDARD §4); memberships (of `hanzo`, of the roles that reach the server's files and programs,
 * and the rest) are role-memberships' (policies/access.ts). Exceptions (ALLOWED_ROLE_ATTRIBUTES): the backup role `hanzo_backup` may have
 * BYPASSRLS (and nothing else of the list), because pg_dump must read every row of a table with row-level
 * security and otherwise fails the whole dump (STANDARD defect 18); it still cannot write any table; the
 * replication role `hanzo_replication` may have REPLICATION, which streaming standbys need (docs/standbys.md).
 *
 * Protects: one service's compromise stays in its own database. Instead: the service role owns its database,
 * which is all it needs to migrate; administration goes through `hanzo`.
 */
export const noSuperuserRoles: ResourceValidationPolicy = {
    name: "no-superuser-roles",
    description: `Only the administrator role may be a superuser; application roles have none of ${FORBIDDEN_ROLE_ATTRIBUTES.map((a) => a.sql).join(", ")}.`,
    validateResource: (raw, report) => {
        if (raw.type !== T.role) {
            return;
        }
        const args = plainResource(raw);
        const name = pgName(args);
        // The administrator is exempt; an attribute not known yet (a preview) is checked when it is.
        if (name === ADMIN_ROLE) {
            return;
        }
        const allowed: readonly string[] = ALLOWED_ROLE_ATTRIBUTES[name] ?? [];
        const has = FORBIDDEN_ROLE_ATTRIBUTES.filter((a) => args.props[a.input] === true && !allowed.includes(a.input)).map((a) => a.sql);
        if (has.length > 0) {
            report(
                `role "${name}" has ${has.join(", ")}; only "${ADMIN_ROLE}" administers the server, application roles have none of ${FORBIDDEN_ROLE_ATTRIBUTES.map((a) => a.sql).join(", ")}.`,
            );
        }
    },
};

/**
 * A Secret's values: `data` decoded from base64, then `stringData`. Values not known yet (a preview:
 * stringData built from a generated password) are left out, to be checked when they are known.
 */
function secretData(s: PolicyResource): Record<string, unknown> {
    const data = s.props?.data;
    const decoded =
        typeof data === "object" && data !== null
            ? Object.fromEntries(
                  Object.entries(data as Record<string, unknown>)
                      .filter(([, v]) => str(v) !== undefined)
                      .map(([k, v]) => [k, Buffer.from(v as string, "base64").toString("utf8")]),
              )
            : {};
    const stringData = s.props?.stringData;
    return { ...decoded, ...(typeof stringData === "object" && stringData !== null ? stringData : {}) };
}

/** Shorter values are not matched by value (they would match by accident). */
const MIN_PASSWORD_LENGTH = 8;

function addPassword(set: Set<string>, v: unknown): void {
    const text = str(v);
    if (text !== undefined && text.length >= MIN_PASSWORD_LENGTH && text !== "[secret]") {
        set.add(text);
    }
}

/** Does a connection setting (URL, keyword DSN or user name) log in as the superuser? */
export function connectsAsAdmin(key: string, value: unknown): boolean {
    if (typeof value !== "string") {
        return false;
    }
    if (/^(DB_USER|PGUSER|POSTGRES_USER|username|user)$/i.test(key)) {
        return value === ADMIN_ROLE;
    }
    const url = /^postgres(?:ql)?:\/\/([^:@/]*)(?::[^@]*)?@/.exec(value);
    if (url) {
        return decodeURIComponent(url[1]) === ADMIN_ROLE;
    }
    return new RegExp(`(^|\\s)user\\s*=\\s*'?${ADMIN_ROLE}'?(\\s|$)`).test(value);
}

/**
 * no-superuser-credentials: no service's connection Secret, workload environment or KMS sync carries the
 * superuser's name or credentials; the metrics exporter and the backup job use least-privilege roles too.
 *
 * The superuser's credentials are recognised by what they are made of, so a plan with secret values
 * redacted is checked as well: the Secrets the PostgreSQL server reads for POSTGRES_USER/POSTGRES_PASSWORD
 * (only the server container may read them), and the resources the admin provider's password comes from
 * (no other Secret may be built from them). Where values are known (under the engine, secrets arrive in
 * plain text), the superuser's password in another Secret or an env var, or a user of `hanzo`, is a
 * violation too. Instead: give the service, exporter or job its own role (STANDARD §4).
 */
export const noSuperuserCredentials: StackValidationPolicy = {
    name: "no-superuser-credentials",
    description: "Applications, the metrics exporter and the backup job never use the superuser's name or credentials.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const adminSecrets = new Set<string>();
        /** `<namespace>/<secret>` → the key the server reads its password from. */
        const adminPasswordKeys = new Map<string, string>();
        const servers = postgresServers(args);
        for (const sts of servers) {
            const server = serverContainer(WORKLOADS[T.statefulSet](sts.props));
            for (const e of list<NonNullable<Container["env"]>[number]>(server?.env)) {
                const ref = e.valueFrom?.secretKeyRef?.name;
                if (ref && ["POSTGRES_USER", "POSTGRES_PASSWORD"].includes(e.name)) {
                    adminSecrets.add(`${sts.props?.metadata?.namespace ?? ""}/${ref}`);
                }
                if (ref && e.name === "POSTGRES_PASSWORD" && e.valueFrom?.secretKeyRef?.key) {
                    adminPasswordKeys.set(`${sts.props?.metadata?.namespace ?? ""}/${ref}`, e.valueFrom.secretKeyRef.key);
                }
            }
        }
        const adminSources = new Set<string>();
        // The superuser's password itself, where it is known (under the engine, after the first preview).
        const adminPasswords = new Set<string>();
        for (const p of ofType(args, T.pgProvider)) {
            if (p.props?.username === ADMIN_ROLE) {
                p.dependencies.filter((d) => !d.type.startsWith("kubernetes:")).forEach((d) => adminSources.add(d.urn));
                addPassword(adminPasswords, p.props?.password);
            }
        }
        const isAdminSecret = (r: PolicyResource) => adminSecrets.has(`${r.props?.metadata?.namespace ?? ""}/${r.props?.metadata?.name}`);
        for (const s of ofType(args, T.secret).filter(isAdminSecret)) {
            const key = adminPasswordKeys.get(`${s.props?.metadata?.namespace ?? ""}/${s.props?.metadata?.name}`);
            const data = secretData(s);
            if (key !== undefined) {
                addPassword(adminPasswords, data[key]);
            }
        }
        const carriesAdminPassword = (v: unknown) => {
            const text = str(v);
            return text !== undefined && [...adminPasswords].some((pw) => text.includes(pw));
        };

        for (const s of ofType(args, T.secret)) {
            if (isAdminSecret(s)) {
                continue;
            }
            const fromAdmin = s.dependencies.find((d) => adminSources.has(d.urn));
            if (fromAdmin) {
                report(
                    `Secret "${k8sName(s)}" is built from the superuser's password (${fromAdmin.name}); give the service its own role.`,
                    s.urn,
                );
                continue;
            }
            const data = secretData(s);
            const leaked = Object.keys(data).find((k) => carriesAdminPassword(data[k]));
            if (leaked) {
                report(`Secret "${k8sName(s)}" carries the superuser's password (key ${leaked}); give the service its own role.`, s.urn);
                continue;
            }
            const key = Object.keys(data).find((k) => connectsAsAdmin(k, data[k]));
            if (key) {
                report(
                    `Secret "${k8sName(s)}" connects as the superuser "${ADMIN_ROLE}" (key ${key}); give the service its own role.`,
                    s.urn,
                );
            }
        }

        const serverUrns = new Set(servers.map((s) => s.urn));
        for (const w of args.resources.filter((r) => r.type in WORKLOADS)) {
            const pod = WORKLOADS[w.type](w.props);
            // The server container itself reads the superuser's Secret; it is recognised by value (its name, unique
            // among a pod's containers and init containers), never by object identity.
            const serverC = serverUrns.has(w.urn) ? serverContainer(pod) : undefined;
            const server = serverC?.name;
            const ns = w.props?.metadata?.namespace ?? "";
            for (const c of [...list<Container>(pod?.spec?.initContainers), ...list<Container>(pod?.spec?.containers)]) {
                if (server !== undefined && c.name === server) {
                    continue;
                }
                const where = `${kindOf(w.type)} "${k8sName(w)}" container "${c.name}"`;
                // The server's own init container (its image, on its data) may read the password's verifier
                // to apply it through the local socket (components/postgresInstance.ts).
                const serverInit =
                    serverC !== undefined &&
                    list<Container>(pod?.spec?.initContainers).some((x) => x.name === c.name) &&
                    c.image === serverC.image;
                for (const e of list<NonNullable<Container["env"]>[number]>(c.env)) {
                    const ref = e.valueFrom?.secretKeyRef?.name;
                    if (serverInit && e.valueFrom?.secretKeyRef?.key === ADMIN_VERIFIER_KEY) {
                        continue;
                    }
                    if (ref && adminSecrets.has(`${ns}/${ref}`)) {
                        report(
                            `${where} reads the superuser's Secret "${ref}" (env ${e.name}); use a least-privilege role of its own.`,
                            w.urn,
                        );
                    } else if (carriesAdminPassword(e.value)) {
                        report(`${where} carries the superuser's password (env ${e.name}); use a least-privilege role of its own.`, w.urn);
                    } else if (connectsAsAdmin(e.name, e.value)) {
                        report(
                            `${where} connects as the superuser "${ADMIN_ROLE}" (env ${e.name}); use a least-privilege role of its own.`,
                            w.urn,
                        );
                    }
                }
                for (const from of list<NonNullable<Container["envFrom"]>[number]>(c.envFrom)) {
                    const ref = from.secretRef?.name;
                    if (ref && adminSecrets.has(`${ns}/${ref}`)) {
                        report(`${where} loads the superuser's Secret "${ref}" (envFrom); use a least-privilege role of its own.`, w.urn);
                    }
                }
            }
        }

        for (const k of args.resources.filter((r) => KMS_SYNC_TYPES.includes(r.type))) {
            const target = k.props?.spec?.managedSecretReference;
            if (
                target?.secretName &&
                adminSecrets.has(`${target.secretNamespace ?? k.props?.metadata?.namespace ?? ""}/${target.secretName}`)
            ) {
                report(
                    `${kindOf(k.type)} "${k8sName(k)}" syncs into the superuser's Secret "${target.secretName}"; sync each service's own credentials into its own Secret.`,
                    k.urn,
                );
            }
        }
    },
};

/**
 * maintenance-databases-closed: PUBLIC may not connect to `postgres` and `template1` (REVOKE ALL … FROM PUBLIC,
 * a Grant with no privileges), and no Grant opens them again, except CONNECT on `postgres` for the exporter
 * and for the backup role (it records each database's backup result there, in its own schema, for the
 * exporter to read).
 *
 * Protects: a service role in `postgres` or `template1` has no business there; through pg_stat_statements
 * its neighbours' statements can be read there, and a session held in template1 blocks CREATE DATABASE.
 * Instead: the administrator (or a role with its own Grant on its own database) connects there.
 */
export const maintenanceDatabasesClosed: StackValidationPolicy = {
    name: "maintenance-databases-closed",
    description:
        "CONNECT on the postgres and template1 databases is revoked from PUBLIC; only the metrics exporter and the backup role may connect to postgres.",
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const logins = ofType(args, T.role).filter((r) => r.props?.login === true && r.props?.name !== ADMIN_ROLE);
        if (logins.length === 0) {
            return;
        }
        const grants = ofType(args, T.grant).filter(
            (g) => g.props?.objectType === "database" && MAINTENANCE_DATABASES.includes(g.props?.database),
        );
        const isPublic = (g: PolicyResource) => String(g.props?.role ?? "").toLowerCase() === "public";
        for (const db of MAINTENANCE_DATABASES) {
            if (!grants.some((g) => g.props.database === db && isPublic(g) && (g.props.privileges ?? []).length === 0)) {
                report(
                    `database "${db}" is open to PUBLIC: add a Grant { database: "${db}", role: "public", objectType: "database", privileges: [] } (REVOKE ALL ON DATABASE ${db} FROM PUBLIC), so no service role can connect.`,
                );
            }
        }
        for (const g of grants) {
            const privileges = ((g.props.privileges ?? []) as string[]).map((p) => p.toUpperCase());
            const allowed =
                g.props.database === MONITOR_DATABASE &&
                [MONITOR_ROLE, BACKUP_ROLE].includes(g.props.role) &&
                privileges.every((p) => p === "CONNECT");
            if (privileges.length > 0 && !allowed) {
                report(
                    `Grant "${g.name}" gives ${isPublic(g) ? "PUBLIC" : `"${g.props.role}"`} ${privileges.join(", ")} on database "${g.props.database}"; only ${ADMIN_ROLE} (and ${MONITOR_ROLE}, ${BACKUP_ROLE}: CONNECT on ${MONITOR_DATABASE}) may connect there.`,
                    g.urn,
                );
            }
        }
    },
};
