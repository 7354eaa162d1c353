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
import { FORBIDDEN_ROLE_ATTRIBUTES } from "../../policies/standard/rules";
import { TYPES } from "../../policies/standard/types";
import { SCRAM_SALT_BYTES, scramVerifier } from "../../render/scram";
import type { Plan, PlannedResource } from "../plan/runner";

const T = TYPES;

export interface InitSqlOptions {
    /** `omit` (default): no passwords; `env`: each role's password from HANZO_SQL_PASSWORD_<ROLE>, as a verifier. */
    readonly passwords?: "omit" | "env";
    /** Where `env` passwords are read (default: this process's environment). */
    readonly env?: Readonly<Record<string, string | undefined>>;
    /**
     * Adoption of a server the seed's instructions built (STANDARD defect 19): besides the idempotent
     * initialisation (which makes each service role its database's owner), hand every object of each
     * service database to that owner, so the service can migrate tables the superuser created.
     */
    readonly adopt?: boolean;
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

/** A Role's boolean inputs and their SQL: LOGIN, the attributes the standard forbids (policies/standard/rules.ts), INHERIT. */
const ROLE_FLAGS: [string, string, string][] = [
    ["login", "LOGIN", "NOLOGIN"],
    ...FORBIDDEN_ROLE_ATTRIBUTES.map((a): [string, string, string] => [a.input, a.sql, `NO${a.sql}`]),
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
    login: false,
    ...Object.fromEntries(FORBIDDEN_ROLE_ATTRIBUTES.map((a) => [a.input, false])),
    inherit: true,
};

function roleSql(r: PlannedResource, opts: InitSqlOptions): string[] {
    const i = r.inputs;
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
        lines.push(
            `ALTER ROLE ${ident(name)} PASSWORD ${literal(scramVerifier(password, randomBytes(SCRAM_SALT_BYTES).toString("base64")))};`,
        );
    }
    return lines;
}

function databaseSql(r: PlannedResource): string[] {
    const i = r.inputs;
    const name = String(i.name ?? r.name);
    const create = [`'CREATE DATABASE %I`, i.owner ? " OWNER %I" : "", ` TEMPLATE %I`, i.encoding ? " ENCODING %L" : "", `'`].join("");
    const args = [
        literal(name),
        ...(i.owner ? [literal(String(i.owner))] : []),
        literal(String(i.template ?? "template0")),
        ...(i.encoding ? [literal(String(i.encoding))] : []),
    ];
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
    const i = r.inputs;
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
    const lines = [
        `-- grant ${r.name}: ${privileges.length ? privileges.join(", ") : "no privileges"} on ${on} to ${grantee}`,
        `REVOKE ALL ON ${on} FROM ${grantee};`,
    ];
    if (privileges.length > 0) {
        lines.push(`GRANT ${privileges.join(", ")} ON ${on} TO ${grantee}${i.withGrantOption === true ? " WITH GRANT OPTION" : ""};`);
    }
    return lines;
}

function extensionSql(r: PlannedResource): string[] {
    const i = r.inputs;
    const name = ident(String(i.name ?? r.name));
    const schema = i.schema ? ` WITH SCHEMA ${ident(String(i.schema))}` : "";
    const version = i.version ? ` VERSION ${literal(String(i.version))}` : "";
    const lines = [`CREATE EXTENSION IF NOT EXISTS ${name}${schema}${version};`];
    if (i.version) {
        // An existing extension at another version is moved to the pinned one, as the provider does when
        // `version` changes (ALTER EXTENSION … UPDATE TO; a NOTICE when it is there already).
        lines.push(`ALTER EXTENSION ${name} UPDATE TO ${literal(String(i.version))};`);
    }
    return lines;
}

/**
 * Every object of the connected database that `owner` (an SQL expression naming a role) does not own, as
 * rows (kind, object, owner): `kind` and `object` are what `ALTER <kind> <object> OWNER TO` takes. System
 * schemas and extensions' objects (they stay with the extension's owner) are left out, and so are objects
 * that follow another when it changes owner: a sequence a column owns (its table), a table's row type,
 * array and multirange types (their element). The adoption hands these to the owner; the verifier lists them.
 */
export function objectsNotOwnedBy(owner: string): string {
    const userSchema = (nsp: string) => `${nsp} NOT IN ('pg_catalog', 'information_schema') AND ${nsp} !~ '^pg_(toast|temp_|toast_temp_)'`;
    const notInExtension = (catalog: string, oid: string) =>
        `NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
    return [
        `SELECT 'SCHEMA' AS kind, quote_ident(n.nspname) AS object, pg_get_userbyid(n.nspowner) AS owner FROM pg_namespace n`,
        `  WHERE ${userSchema("n.nspname")} AND n.nspowner NOT IN ((${owner})::regrole, 'pg_database_owner'::regrole) AND ${notInExtension("pg_namespace", "n.oid")}`,
        `UNION ALL`,
        `SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,`,
        `       c.oid::regclass::text, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`,
        `  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${userSchema("n.nspname")} AND c.relowner <> (${owner})::regrole AND ${notInExtension("pg_class", "c.oid")}`,
        `    AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))`,
        `UNION ALL`,
        `SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, p.oid::regprocedure::text, pg_get_userbyid(p.proowner)`,
        `  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace`,
        `  WHERE ${userSchema("n.nspname")} AND p.proowner <> (${owner})::regrole AND ${notInExtension("pg_proc", "p.oid")}`,
        `UNION ALL`,
        `SELECT 'TYPE', t.oid::regtype::text, pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace`,
        `  WHERE ${userSchema("n.nspname")} AND t.typowner <> (${owner})::regrole AND t.typelem = 0 AND t.typtype IN ('e', 'd', 'r', 'c')`,
        `    AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c') AND ${notInExtension("pg_type", "t.oid")}`,
    ].join("\n");
}

/**
 * Adoption: hands every object `objectsNotOwnedBy` lists to the database's owner. The seed's superuser
 * cannot be `REASSIGN OWNED` from (it owns the system catalogs), hence object by object.
 */
export function adoptObjectsSql(owner: string): string[] {
    return [
        `DO $adopt$`,
        `DECLARE`,
        `    new_owner CONSTANT name := ${literal(owner)};`,
        `    r record;`,
        `BEGIN`,
        `    FOR r IN ${objectsNotOwnedBy("new_owner").split("\n").join("\n             ")}`,
        `    LOOP EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.object, new_owner); END LOOP;`,
        `END`,
        `$adopt$;`,
    ];
}

/**
 * Only the extensions of a plan, per database, at their pinned versions: what an adoption runs *before* its
 * `pulumi up`. The postgresql provider creates an Extension with `CREATE EXTENSION IF NOT EXISTS … VERSION`,
 * which leaves an existing older one as it is, and then reads the live `extversion` into the state
 * (`resourcePostgreSQLExtensionCreate` → `resourcePostgreSQLExtensionReadImpl`,
 * postgresql/resource_postgresql_extension.go in cyrilgdn/terraform-provider-postgresql), so an adopted
 * database's older extension would only be updated by the *next* `up`. Moved first, every extension is at its
 * pinned version when the provider creates and reads it, and one `up` converges. Only databases that exist
 * before the `up` can be named here: with `adopt`, every service database is imported, so all exist.
 */
export function renderExtensionSql(plan: Plan): string {
    const extensions = plan.resources.filter((r) => r.type === T.extension);
    const out = [
        `-- hanzo-sql: the extensions of stack ${plan.stack} at their pinned versions, rendered from its plan. Idempotent.`,
        `\\set ON_ERROR_STOP on`,
    ];
    for (const db of [...new Set(extensions.map((r) => String(r.inputs.database)))]) {
        out.push(`\\connect ${ident(db)}`, ...extensions.filter((r) => String(r.inputs.database) === db).flatMap(extensionSql));
    }
    out.push(`\\connect postgres`);
    return out.join("\n") + "\n";
}

/** The psql script of a plan. */
export function renderInitSql(plan: Plan, opts: InitSqlOptions = {}): string {
    const of = (type: string) => plan.resources.filter((r) => r.type === type);
    const databaseOf = (r: PlannedResource) => String(r.inputs.database);
    const out = [
        `-- hanzo-sql: initialisation of stack ${plan.stack}, rendered from its plan. Idempotent.`,
        `-- Run as the administrator against the postgres database: psql -v ON_ERROR_STOP=1 -d postgres -f init.sql`,
        opts.passwords === "env"
            ? `-- Role passwords are set as SCRAM-SHA-256 verifiers of HANZO_SQL_PASSWORD_<ROLE>; keep this output as private as they are.`
            : `-- Role passwords are not included; set them with --passwords env, or ALTER ROLE … PASSWORD.`,
        ...(opts.adopt ? [`-- Adoption: every object of each service database is handed to the database's owner.`] : []),
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
            const i = r.inputs;
            out.push(
                `-- schema ${i.name} (${r.name})`,
                `CREATE SCHEMA IF NOT EXISTS ${ident(String(i.name))};`,
                `ALTER SCHEMA ${ident(String(i.name))} OWNER TO ${ident(String(i.owner))};`,
            );
        }
        for (const g of of(T.grant).filter((r) => databaseOf(r) === db)) {
            out.push(...grantSql(g));
        }
        for (const e of of(T.extension).filter((r) => databaseOf(r) === db)) {
            out.push(...extensionSql(e));
        }
        const owner = of(T.database)
            .map((r) => r.inputs)
            .find((i) => i.name === db)?.owner;
        if (opts.adopt && typeof owner === "string") {
            out.push(`-- adoption: hand ${db}'s objects to ${owner}`, ...adoptObjectsSql(owner));
        }
        out.push("");
    }
    out.push(`\\connect postgres`);
    return out.join("\n") + "\n";
}
