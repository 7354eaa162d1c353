/**
 * The SQL a plan's PostgreSQL resources mean (Role, Database, Grant, Extension), as one idempotent psql
 * script that the administrator runs against the `postgres` database:
 *
 *     psql -v ON_ERROR_STOP=1 -d postgres -f init.sql
 *
 * It is ADR-60's single initialisation path: a local or test environment gets its databases from the same
 * model as the clusters, and re-running it changes nothing. Role passwords are left out (so the script can
 * be shown and reviewed) unless asked for; then each is read from an environment variable by this tool and
 * the script carries its SCRAM-SHA-256 verifier (freshly salted), as the provider's Role does: the password
 * itself never reaches the server, its log or pg_stat_statements.
 */
import { randomBytes } from "crypto";
import { SCRAM_SALT_BYTES, scramVerifier } from "../../render/scram";
import type { Plan, PlannedResource } from "../plan/runner";

const T = {
    role: "postgresql:index/role:Role",
    database: "postgresql:index/database:Database",
    grant: "postgresql:index/grant:Grant",
    extension: "postgresql:index/extension:Extension",
    schema: "postgresql:index/schema:Schema",
};

export interface InitSqlOptions {
    /** `omit` (default): no passwords; `env`: each role's password from HANZO_SQL_PASSWORD_<ROLE>, as a verifier. */
    readonly passwords?: "omit" | "env";
    /** Where `env` passwords are read (default: this process's environment). */
    readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A quoted SQL identifier. */
export function ident(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

/** A quoted SQL string literal. */
export function literal(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/** The environment variable a role's password comes from: HANZO_SQL_PASSWORD_IAM_USER. */
export function passwordVariable(role: string): string {
    return `HANZO_SQL_PASSWORD_${role.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

const ROLE_FLAGS: [string, string, string][] = [
    ["login", "LOGIN", "NOLOGIN"],
    ["superuser", "SUPERUSER", "NOSUPERUSER"],
    ["createDatabase", "CREATEDB", "NOCREATEDB"],
    ["createRole", "CREATEROLE", "NOCREATEROLE"],
    ["replication", "REPLICATION", "NOREPLICATION"],
    ["bypassRowLevelSecurity", "BYPASSRLS", "NOBYPASSRLS"],
    ["inherit", "INHERIT", "NOINHERIT"],
];

/** Passwords the environment does not hold, by variable name. */
export class MissingPasswords extends Error {
    constructor(readonly variables: string[]) {
        super(`not set: ${variables.join(", ")} (each must hold its role's password)`);
    }
}

/** Provider defaults of a Role's attributes (@pulumi/postgresql), for inputs a resource leaves out. */
const ROLE_DEFAULTS: Record<string, boolean> = {
    login: false, superuser: false, createDatabase: false, createRole: false, replication: false, bypassRowLevelSecurity: false, inherit: true,
};

function roleSql(r: PlannedResource, opts: InitSqlOptions): string[] {
    const i = r.inputs as Record<string, unknown>;
    const name = String(i.name ?? r.name);
    const flags = ROLE_FLAGS.map(([k, yes, no]) => ((i[k] ?? ROLE_DEFAULTS[k]) === true ? yes : no));
    const limit = typeof i.connectionLimit === "number" ? i.connectionLimit : -1;
    const lines = [
        `-- role ${name} (${r.name})`,
        `SELECT format('CREATE ROLE %I', ${literal(name)}) WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(name)})\\gexec`,
        `ALTER ROLE ${ident(name)} WITH ${flags.join(" ")} CONNECTION LIMIT ${limit};`,
    ];
    for (const member of (i.roles as string[] | undefined) ?? []) {
        lines.push(`GRANT ${ident(member)} TO ${ident(name)};`);
    }
    if (opts.passwords === "env" && i.password !== undefined) {
        const password = (opts.env ?? process.env)[passwordVariable(name)];
        if (password === undefined || password === "") {
            // Named, never shown; renderInitSql reports every missing variable at once.
            throw new MissingPasswords([passwordVariable(name)]);
        }
        lines.push(`ALTER ROLE ${ident(name)} PASSWORD ${literal(scramVerifier(password, randomBytes(SCRAM_SALT_BYTES).toString("base64")))};`);
    }
    return lines;
}

function databaseSql(r: PlannedResource): string[] {
    const i = r.inputs as Record<string, unknown>;
    const name = String(i.name ?? r.name);
    const create = [`'CREATE DATABASE %I`, i.owner ? " OWNER %I" : "", ` TEMPLATE %I`, i.encoding ? " ENCODING %L" : "", `'`].join("");
    const args = [literal(name), ...(i.owner ? [literal(String(i.owner))] : []), literal(String(i.template ?? "template0")), ...(i.encoding ? [literal(String(i.encoding))] : [])];
    const lines = [
        `-- database ${name} (${r.name})`,
        `SELECT format(${create}, ${args.join(", ")}) WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = ${literal(name)})\\gexec`,
    ];
    if (i.owner) {
        lines.push(`ALTER DATABASE ${ident(name)} OWNER TO ${ident(String(i.owner))};`);
    }
    const allow = i.allowConnections === false ? "false" : "true";
    const limit = typeof i.connectionLimit === "number" ? i.connectionLimit : -1;
    lines.push(`ALTER DATABASE ${ident(name)} WITH ALLOW_CONNECTIONS ${allow} CONNECTION LIMIT ${limit};`);
    return lines;
}

function grantSql(r: PlannedResource): string[] {
    const i = r.inputs as Record<string, unknown>;
    const role = String(i.role);
    const grantee = role.toLowerCase() === "public" ? "PUBLIC" : ident(role);
    const privileges = ((i.privileges as string[]) ?? []).map((p) => p.toUpperCase());
    const objectType = String(i.objectType);
    let on: string;
    if (objectType === "database") {
        on = `DATABASE ${ident(String(i.database))}`;
    } else if (objectType === "schema") {
        on = `SCHEMA ${ident(String(i.schema))}`;
    } else if (objectType === "table" || objectType === "sequence" || objectType === "function") {
        const objects = (i.objects as string[] | undefined) ?? [];
        const schema = ident(String(i.schema ?? "public"));
        const kind = objectType.toUpperCase();
        on = objects.length > 0 ? `${kind} ${objects.map((o) => `${schema}.${ident(o)}`).join(", ")}` : `ALL ${kind}S IN SCHEMA ${schema}`;
    } else {
        throw new Error(`grant ${r.name}: object type ${objectType} is not rendered to SQL`);
    }
    // A Grant owns the privileges of (role, object): exactly these, nothing else.
    const lines = [`-- grant ${r.name}: ${privileges.length ? privileges.join(", ") : "no privileges"} on ${on} to ${grantee}`, `REVOKE ALL ON ${on} FROM ${grantee};`];
    if (privileges.length > 0) {
        lines.push(`GRANT ${privileges.join(", ")} ON ${on} TO ${grantee}${i.withGrantOption === true ? " WITH GRANT OPTION" : ""};`);
    }
    return lines;
}

function extensionSql(r: PlannedResource): string {
    const i = r.inputs as Record<string, unknown>;
    const schema = i.schema ? ` WITH SCHEMA ${ident(String(i.schema))}` : "";
    const version = i.version ? ` VERSION ${literal(String(i.version))}` : "";
    return `CREATE EXTENSION IF NOT EXISTS ${ident(String(i.name ?? r.name))}${schema}${version};`;
}

/** The psql script of a plan. */
export function renderInitSql(plan: Plan, opts: InitSqlOptions = {}): string {
    const of = (type: string) => plan.resources.filter((r) => r.type === type);
    const databaseOf = (r: PlannedResource) => String((r.inputs as Record<string, unknown>).database);
    const out = [
        `-- hanzo-sql: initialisation of stack ${plan.stack}, rendered from its plan. Idempotent.`,
        `-- Run as the administrator against the postgres database: psql -v ON_ERROR_STOP=1 -d postgres -f init.sql`,
        opts.passwords === "env"
            ? `-- Role passwords are set as SCRAM-SHA-256 verifiers of HANZO_SQL_PASSWORD_<ROLE>; keep this output as private as they are.`
            : `-- Role passwords are not included; set them with --passwords env, or ALTER ROLE … PASSWORD.`,
        `\\set ON_ERROR_STOP on`,
        `\\connect postgres`,
        "",
    ];
    const missing: string[] = [];
    for (const r of of(T.role)) {
        try {
            out.push(...roleSql(r, opts), "");
        } catch (e) {
            if (!(e instanceof MissingPasswords)) {
                throw e;
            }
            missing.push(...e.variables);
        }
    }
    if (missing.length > 0) {
        throw new MissingPasswords(missing);
    }
    for (const r of of(T.database)) {
        out.push(...databaseSql(r), "");
    }
    // Per database, in the plan's order: its schemas, its grants, then its extensions (all per database).
    const databases = [...new Set([...of(T.schema), ...of(T.grant), ...of(T.extension)].map(databaseOf))];
    for (const db of databases) {
        out.push(`\\connect ${ident(db)}`);
        for (const r of of(T.schema).filter((x) => databaseOf(x) === db)) {
            const i = r.inputs as Record<string, unknown>;
            out.push(`-- schema ${i.name} (${r.name})`, `CREATE SCHEMA IF NOT EXISTS ${ident(String(i.name))};`, `ALTER SCHEMA ${ident(String(i.name))} OWNER TO ${ident(String(i.owner))};`);
        }
        for (const g of of(T.grant).filter((r) => databaseOf(r) === db)) {
            out.push(...grantSql(g));
        }
        for (const e of of(T.extension).filter((r) => databaseOf(r) === db)) {
            out.push(extensionSql(e));
        }
        out.push("");
    }
    out.push(`\\connect postgres`);
    return out.join("\n") + "\n";
}
