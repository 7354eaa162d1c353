/**
 * ADR-60's automated validation: checks a running server against a stack's spec. Every database exists
 * with its service role as owner, and every object in it belongs to that role; every role exists with
 * exactly the attributes the standard allows, no memberships and no MD5 verifier (scram-sha-256 rejects
 * it); PUBLIC and other services' roles cannot connect; every required extension is installed at the
 * stack's pinned version in every service database and template1; the server's settings are the rendered ones;
 * no role but the administrator is a superuser; the tables a service declares exist. Each failure names the
 * object and the fix.
 */
import { Client } from "pg";
import { redactSecrets } from "../../render/connection";
import {
    ADMIN_ROLE,
    FORBIDDEN_ROLE_ATTRIBUTES,
    REQUIRED_EXTENSIONS,
    SUPERUSER_ATTRIBUTE,
    MAINTENANCE_DATABASES,
    MONITOR_DATABASE,
    MONITOR_ROLE,
} from "../../policies/standard/rules";
import { hbaAddressProblem } from "../../policies/standard/network";
import { unquote } from "../../policies/standard/settings";
import { instanceSettings } from "../../components/serverSettings";
import { settingQuantity } from "../../policies/standard/units";
import type { ServiceSpec, StackSpec } from "../../stacks/spec";
import { objectsNotOwnedBy } from "../sql/initSql";
import { PRIVILEGED_PG_OPTIONS, quoteIdent, quoteLiteral } from "../../render/privilegedSession";

export interface CheckResult {
    /** What was checked: `role iam_user`, `database iam`, `setting work_mem`, … */
    readonly object: string;
    readonly ok: boolean;
    /** What was found (on success, what holds). */
    readonly detail: string;
    /** How to repair it (failures only). */
    readonly fix?: string;
}

/** A setting's value in base units (bytes, ms) when it has one, else its text; `unit` is pg_settings.unit. */
export function normalizeSetting(value: string, unit: string | null): string {
    const q = settingQuantity(value, unit);
    return q !== undefined ? String(q.base) : unquote(value);
}

/** Settings a verifier does not compare: where a server listens differs between a pod and its clients' view. */
const LOCAL_SETTINGS = ["port", "listen_addresses"];

/** The admin URL with another database. */
function withDatabase(url: string, database: string): string {
    const u = new URL(url);
    u.pathname = `/${encodeURIComponent(database)}`;
    return u.toString();
}

/** The URL (or keyword DSN) with every password hidden, for reports: userinfo, `?password=`, `password=…`. */
export function redactUrl(url: string): string {
    return redactSecrets(url);
}

async function connect(url: string): Promise<Client> {
    // A service's database decides what unqualified names mean there; this session resolves them in
    // pg_catalog only (render/privilegedSession.ts), whatever the database or the role says.
    const c = new Client({ connectionString: url, connectionTimeoutMillis: 15_000, options: PRIVILEGED_PG_OPTIONS });
    await c.connect();
    return c;
}

/** Records a check's result. */
export type Pass = (object: string, detail: string) => void;
export type Fail = (object: string, detail: string, fix: string) => void;

/** What every check is given: the stack, the administrator's connection, where to record results. */
export interface CheckContext {
    readonly spec: StackSpec;
    /** The administrator's connection to the postgres database, and its URL (for other databases). */
    readonly admin: Client;
    readonly adminUrl: string;
    /** Roles besides the administrator that are superusers: reported once (checkSuperusers), skipped elsewhere. */
    readonly superusers: readonly string[];
    readonly pass: Pass;
    readonly fail: Fail;
}
/** A check of the whole server. */
export type Check = (ctx: CheckContext) => Promise<void>;
/** A check of one service; `false` skips the service's later checks (what they read is not there). */
export type ServiceCheck = (ctx: CheckContext, s: ServiceSpec) => Promise<boolean | void>;

/**
 * Settings: the rendered postgresql.conf for the stack's memory limit. pgvector's settings exist in pg_settings
 * only once a session has loaded the library (until then they are untyped placeholders, and an invalid one is
 * dropped at load with a WARNING), so load it first, as a service's query does.
 */
export async function checkSettings({ spec, admin, pass, fail }: CheckContext): Promise<void> {
    await admin.query("LOAD 'vector'");
    for (const s of instanceSettings(spec.instance).filter((x) => !LOCAL_SETTINGS.includes(x.name))) {
        const row = (await admin.query("SELECT setting, unit FROM pg_settings WHERE name = $1", [s.name])).rows[0];
        const shown = (await admin.query("SELECT current_setting($1) AS v", [s.name])).rows[0].v as string;
        if (row && normalizeSetting(row.setting, row.unit) === normalizeSetting(s.value, row.unit)) {
            pass(`setting ${s.name}`, `= ${shown}`);
        } else {
            fail(
                `setting ${s.name}`,
                `is ${shown}; the stack renders ${unquote(s.value)}`,
                "restore the rendered postgresql.conf (pulumi up), remove ALTER SYSTEM overrides (ALTER SYSTEM RESET), then reload or restart",
            );
        }
    }
}

/**
 * pg_hba.conf as the server loaded it: every line that admits a network with a password admits one the standard
 * allows (the rule the config loader and the policy pack apply), and no line failed to parse.
 */
export async function checkPgHba({ admin, pass, fail }: CheckContext): Promise<void> {
    const hba = (
        await admin.query("SELECT line_number, type, address, netmask, auth_method, error FROM pg_hba_file_rules ORDER BY line_number")
    ).rows;
    const hbaProblems: string[] = [];
    for (const r of hba) {
        const address = r.netmask ? `${r.address} ${r.netmask}` : (r.address as string | null);
        const problem = r.error
            ? `does not parse: ${r.error}`
            : r.type !== "local" && r.auth_method !== "reject" && address !== null
              ? hbaAddressProblem(address)
              : undefined;
        if (problem !== undefined) {
            hbaProblems.push(`line ${r.line_number} (${address ?? r.type}) ${problem}`);
        }
    }
    if (hbaProblems.length === 0) {
        pass("pg_hba.conf", `${hba.length} rules; every network admitted is the standard's`);
    } else {
        fail(
            "pg_hba.conf",
            hbaProblems.join("; "),
            "restore the rendered pg_hba.conf (pulumi up; the stack's podNetworkCidrs), then reload",
        );
    }
}

/** The roles besides the administrator that are superusers. */
async function superusersOf(admin: Client): Promise<string[]> {
    return (
        await admin.query(`SELECT rolname FROM pg_roles WHERE ${SUPERUSER_ATTRIBUTE.column} AND rolname <> $1 ORDER BY 1`, [ADMIN_ROLE])
    ).rows.map((r) => r.rolname as string);
}

/** Superusers: only the administrator. */
export async function checkSuperusers({ superusers, pass, fail }: CheckContext): Promise<void> {
    if (superusers.length === 0) {
        pass("superusers", `only ${ADMIN_ROLE}`);
    }
    for (const r of superusers) {
        fail(`role ${r}`, "is a superuser; only the administrator may be", `ALTER ROLE ${quoteIdent(r)} NO${SUPERUSER_ATTRIBUTE.sql}`);
    }
}

/** The service's role: login, none of the forbidden attributes, no memberships, the stack's connection limit, no MD5 verifier. */
export async function checkServiceRole({ spec, admin, pass, fail }: CheckContext, s: ServiceSpec): Promise<void> {
    const role = (
        await admin.query(
            `SELECT r.rolcanlogin, r.rolconnlimit, ${FORBIDDEN_ROLE_ATTRIBUTES.map((a) => `r.${a.column}`).join(", ")},
                        array(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
                   FROM pg_roles r WHERE r.rolname = $1`,
            [s.role],
        )
    ).rows[0];
    if (!role) {
        fail(
            `role ${s.role}`,
            "does not exist",
            `pulumi up, or: npm run init-sql -- --stack ${spec.stack} | psql -v ON_ERROR_STOP=1 -d postgres`,
        );
        return;
    }
    const extra = FORBIDDEN_ROLE_ATTRIBUTES.filter((a) => role[a.column] === true).map((a) => a.sql);
    const problems = [
        ...(role.rolcanlogin ? [] : ["cannot log in"]),
        ...(extra.length ? [`has ${extra.join(", ")}`] : []),
        ...(role.member_of.length ? [`is a member of ${role.member_of.join(", ")}`] : []),
        ...(role.rolconnlimit === s.connectionLimit ? [] : [`has connection limit ${role.rolconnlimit}, not ${s.connectionLimit}`]),
    ];
    // pg_hba's scram-sha-256 cannot check an MD5 verifier (an old server's): that login fails.
    const md5 =
        (await admin.query("SELECT rolpassword LIKE 'md5%' AS md5 FROM pg_authid WHERE rolname = $1", [s.role])).rows[0]?.md5 === true;
    if (md5) {
        fail(
            `role ${s.role}`,
            "has an MD5 password verifier, which scram-sha-256 authentication rejects",
            `set the same password again (from the KMS) so it is stored as SCRAM: psql -c '\\password ${s.role}'`,
        );
    }
    if (problems.length === 0) {
        pass(`role ${s.role}`, `login; no ${FORBIDDEN_ROLE_ATTRIBUTES.map((a) => a.sql).join(", ")}; no memberships`);
    } else {
        const fixes = [
            `ALTER ROLE ${quoteIdent(s.role)} WITH LOGIN ${FORBIDDEN_ROLE_ATTRIBUTES.map((a) => `NO${a.sql}`).join(" ")} CONNECTION LIMIT ${s.connectionLimit}`,
            ...role.member_of.map((m: string) => `REVOKE ${quoteIdent(m)} FROM ${quoteIdent(s.role)}`),
        ];
        fail(`role ${s.role}`, problems.join("; "), fixes.join("; "));
    }
}

/** The service's database: exists (else its later checks are skipped), owned by the role, closed to PUBLIC and to the other services' roles. */
export async function checkServiceDatabase({ spec, admin, superusers, pass, fail }: CheckContext, s: ServiceSpec): Promise<boolean> {
    const db = (await admin.query("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [s.database])).rows[0];
    if (!db) {
        fail(
            `database ${s.database}`,
            "does not exist",
            `pulumi up, or: npm run init-sql -- --stack ${spec.stack} | psql -v ON_ERROR_STOP=1 -d postgres`,
        );
        return false;
    }
    if (db.owner === s.role) {
        pass(`database ${s.database}`, `owned by ${s.role}`);
    } else {
        fail(
            `database ${s.database}`,
            `is owned by ${db.owner}, not ${s.role}`,
            `ALTER DATABASE ${quoteIdent(s.database)} OWNER TO ${quoteIdent(s.role)}`,
        );
    }
    const publicConnect = (await admin.query("SELECT has_database_privilege('public', $1, 'CONNECT') AS c", [s.database])).rows[0].c;
    const intruders = [];
    // Superusers can connect anywhere; they are reported once (checkSuperusers), with their own fix.
    for (const other of spec.services.map((x) => x.role).filter((r) => r !== s.role && !superusers.includes(r))) {
        const exists = (await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [other])).rowCount;
        if (exists && (await admin.query("SELECT has_database_privilege($1, $2, 'CONNECT') AS c", [other, s.database])).rows[0].c) {
            intruders.push(other);
        }
    }
    if (publicConnect) {
        fail(
            `database ${s.database}`,
            "PUBLIC can connect, so every role can",
            `REVOKE ALL ON DATABASE ${quoteIdent(s.database)} FROM PUBLIC`,
        );
    } else if (intruders.length > 0) {
        fail(
            `database ${s.database}`,
            `other services' roles can connect: ${intruders.join(", ")}`,
            intruders.map((r) => `REVOKE ALL ON DATABASE ${quoteIdent(s.database)} FROM ${quoteIdent(r)}`).join("; "),
        );
    } else {
        pass(`database ${s.database}`, "only its owner (and the administrator) can connect");
    }
    return true;
}

/**
 * Every object in the service's database belongs to the service, so its migrations can alter it (an adopted
 * server's tables were often created by the superuser).
 */
export async function checkObjectOwners(c: Client, { spec, pass, fail }: CheckContext, s: ServiceSpec): Promise<void> {
    const foreign = (await c.query(`SELECT kind, object, owner FROM (${objectsNotOwnedBy("$1")}) o ORDER BY 1, 2`, [s.role])).rows;
    if (foreign.length === 0) {
        pass(`objects ${s.database}`, `all owned by ${s.role}`);
    } else {
        const shown = foreign
            .slice(0, 10)
            .map((o) => `${o.kind.toLowerCase()} ${o.object} (${o.owner})`)
            .join(", ");
        fail(
            `objects ${s.database}`,
            `has ${foreign.length} ${foreign.length === 1 ? "object" : "objects"} ${s.role} does not own, so its migrations cannot alter them: ${shown}${foreign.length > 10 ? ", …" : ""}`,
            `npm run -s init-sql -- --stack ${spec.stack} --adopt | psql -v ON_ERROR_STOP=1 -d postgres (hands each to ${s.role})`,
        );
    }
}

/** The tables the service declares (requiredTables) exist. */
export async function checkRequiredTables(c: Client, { pass, fail }: CheckContext, s: ServiceSpec): Promise<void> {
    for (const table of s.requiredTables) {
        // An unqualified name is the service's public schema's (this session's search_path is pg_catalog's only).
        const found = (
            await c.query("SELECT to_regclass(CASE WHEN strpos($1, '.') > 0 THEN $1 ELSE 'public.' || $1 END) IS NOT NULL AS f", [table])
        ).rows[0].f;
        if (found) {
            pass(`table ${s.database}.${table}`, "exists");
        } else {
            fail(`table ${s.database}.${table}`, "does not exist", `run ${s.name}'s migrations against ${s.database}`);
        }
    }
}

/** In the service's database: its extensions at the pinned versions, the owners of its objects, its required tables. */
export async function checkServiceContents(ctx: CheckContext, s: ServiceSpec): Promise<void> {
    const c = await connect(withDatabase(ctx.adminUrl, s.database));
    try {
        await checkExtensions(c, s.database, s.extensions, ctx.spec.extensionVersions, ctx.pass, ctx.fail);
        await checkObjectOwners(c, ctx, s);
        await checkRequiredTables(c, ctx, s);
    } finally {
        await c.end();
    }
}

/** The checks of each service, in order. */
export const SERVICE_CHECKS: readonly ServiceCheck[] = [checkServiceRole, checkServiceDatabase, checkServiceContents];

/** Every service's checks (SERVICE_CHECKS), service by service. */
export async function checkServices(ctx: CheckContext): Promise<void> {
    for (const s of ctx.spec.services) {
        for (const check of SERVICE_CHECKS) {
            if ((await check(ctx, s)) === false) {
                break;
            }
        }
    }
}

/** The maintenance databases: closed to PUBLIC and to every service role (the exporter may reach its one). */
export async function checkMaintenanceDatabases({ spec, admin, superusers, pass, fail }: CheckContext): Promise<void> {
    const serviceRoles = spec.services.map((s) => s.role);
    for (const db of MAINTENANCE_DATABASES) {
        const publicConnect = (await admin.query("SELECT has_database_privilege('public', $1, 'CONNECT') AS c", [db])).rows[0].c;
        const open: string[] = [];
        for (const role of [...serviceRoles, ...(db === MONITOR_DATABASE ? [] : [MONITOR_ROLE])].filter((r) => !superusers.includes(r))) {
            const exists = (await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).rowCount;
            if (exists && (await admin.query("SELECT has_database_privilege($1, $2, 'CONNECT') AS c", [role, db])).rows[0].c) {
                open.push(role);
            }
        }
        if (publicConnect) {
            fail(
                `database ${db}`,
                "PUBLIC can connect, so every service role can",
                `REVOKE ALL ON DATABASE ${quoteIdent(db)} FROM PUBLIC (pulumi up does)`,
            );
        } else if (open.length > 0) {
            fail(
                `database ${db}`,
                `roles that must not connect can: ${open.join(", ")}`,
                open.map((r) => `REVOKE ALL ON DATABASE ${quoteIdent(db)} FROM ${quoteIdent(r)}`).join("; "),
            );
        } else {
            pass(
                `database ${db}`,
                db === MONITOR_DATABASE
                    ? `no service role can connect (only ${ADMIN_ROLE} and ${MONITOR_ROLE})`
                    : `no service role can connect (only ${ADMIN_ROLE})`,
            );
        }
    }
}

/** template1: the standard's extensions the services use, so a database created from it has them. */
export async function checkTemplate1({ spec, adminUrl, pass, fail }: CheckContext): Promise<void> {
    const t1 = await connect(withDatabase(adminUrl, "template1"));
    try {
        await checkExtensions(
            t1,
            "template1",
            [...new Set(spec.services.flatMap((s) => s.extensions))].filter((x) => (REQUIRED_EXTENSIONS as readonly string[]).includes(x)),
            spec.extensionVersions,
            pass,
            fail,
        );
    } finally {
        await t1.end();
    }
}

/** Every check of the server, in the order their results are reported (as CloudNativePG's webhook lists its validations). */
export const CHECKS: readonly Check[] = [
    checkSettings,
    checkPgHba,
    checkSuperusers,
    checkServices,
    checkMaintenanceDatabases,
    checkTemplate1,
];

/** Runs every check (CHECKS) of a stack against the server at `adminUrl` (the administrator's connection). */
export async function verify(spec: StackSpec, adminUrl: string): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    const pass: Pass = (object, detail) => results.push({ object, ok: true, detail });
    const fail: Fail = (object, detail, fix) => results.push({ object, ok: false, detail, fix });
    const admin = await connect(adminUrl);
    try {
        const ctx: CheckContext = { spec, admin, adminUrl, superusers: await superusersOf(admin), pass, fail };
        for (const check of CHECKS) {
            await check(ctx);
        }
    } finally {
        await admin.end();
    }
    return results;
}

/** Each of `expected` is installed in the database, at the stack's pinned version when it pins one. */
export async function checkExtensions(
    c: Client,
    database: string,
    expected: readonly string[],
    pinned: Readonly<Record<string, string>>,
    pass: Pass,
    fail: Fail,
): Promise<void> {
    const installed = new Map(
        (await c.query("SELECT extname, extversion FROM pg_extension")).rows.map((r) => [r.extname as string, r.extversion as string]),
    );
    for (const ext of expected) {
        const version = installed.get(ext);
        const want = pinned[ext];
        if (version !== undefined && want !== undefined && version !== want) {
            fail(
                `extension ${database}.${ext}`,
                `version ${version}; the stack pins ${want}`,
                `pulumi up (extensionVersions), or: ALTER EXTENSION ${quoteIdent(ext)} UPDATE TO ${quoteLiteral(want)} (connected to ${database}, as ${ADMIN_ROLE})`,
            );
        } else if (version !== undefined) {
            pass(`extension ${database}.${ext}`, `version ${version}`);
        } else {
            fail(
                `extension ${database}.${ext}`,
                "is not installed",
                `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(ext)} WITH SCHEMA public (connected to ${database}, as ${ADMIN_ROLE})`,
            );
        }
    }
}

/** The readable report: failures first, then a count. */
export function report(stack: string, url: string, results: CheckResult[]): string {
    const failed = results.filter((r) => !r.ok);
    const lines = [`stack ${stack} against ${redactUrl(url)}`];
    for (const r of [...failed, ...results.filter((x) => x.ok)]) {
        lines.push(r.ok ? `  ok    ${r.object}: ${r.detail}` : `  FAIL  ${r.object}: ${r.detail}\n        fix: ${r.fix}`);
    }
    lines.push(`${results.length} checks, ${failed.length} failed`);
    return lines.join("\n") + "\n";
}
