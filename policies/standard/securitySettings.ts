/**
 * Server settings that weaken authentication or load code the standard does not ship, written once: the
 * policy pack refuses them in the rendered postgresql.conf and pg_hba.conf (policies/serverShape.ts). Each rule
 * says why, from PostgreSQL's documentation of the setting ("Server Configuration", "The pg_hba.conf File").
 * The standard's own values (log_statement 'ddl' and the rest) are server-configuration's. Imports its siblings.
 */
import { PRELOAD_LIBRARIES } from "./extensions";
import { unquote } from "./settings";

/** A comma-separated library list (shared_preload_libraries and the like) as names. */
function libraries(value: string): string[] {
    return unquote(value)
        .split(",")
        .map((s) => s.trim().replace(/^"(.*)"$/, "$1"))
        .filter((s) => s !== "");
}

const ON = ["on", "true", "yes", "1"];

/** The pgBackRest invocation render/pitr.ts renders (its config path and the stacks' one stanza, `db`). */
export const PGBACKREST_COMMAND = "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db";

/** Per setting: why its value is refused, or undefined when it is fine. */
export const SECURITY_SETTING_RULES: Readonly<Record<string, (value: string) => string | undefined>> = {
    password_encryption: (v) =>
        unquote(v).toLowerCase() === "scram-sha-256"
            ? undefined
            : "stores new passwords as MD5 hashes, which replay like passwords and which pg_hba.conf's scram-sha-256 lines then refuse; use 'scram-sha-256'",
    shared_preload_libraries: (v) => {
        const extra = libraries(v).filter((l) => !PRELOAD_LIBRARIES.includes(l));
        return extra.length === 0
            ? undefined
            : `loads ${extra.join(", ")} into every server process; the standard preloads ${PRELOAD_LIBRARIES.join(", ")} only`;
    },
    session_preload_libraries: (v) =>
        libraries(v).length === 0
            ? undefined
            : "loads code into every session; leave it empty (the standard preloads at server start only)",
    local_preload_libraries: (v) =>
        libraries(v).length === 0 ? undefined : "loads code from $libdir/plugins into every session, any role's; leave it empty",
    dynamic_library_path: (v) =>
        unquote(v) === "$libdir" ? undefined : "makes LOAD and C functions find libraries outside the image's $libdir; leave it '$libdir'",
    jit_provider: (v) =>
        unquote(v) === "llvmjit"
            ? undefined
            : "loads another library as the JIT provider in every session that compiles a query; leave it llvmjit",
    allow_system_table_mods: (v) =>
        ON.includes(unquote(v).toLowerCase()) ? "lets sessions alter the system catalogs' structure; leave it off" : undefined,
    ssl_passphrase_command: () => "runs a shell command as the server's OS user at start and reload; the standard has no TLS key to unlock",
    ssl_min_protocol_version: (v) =>
        ["tlsv1.2", "tlsv1.3"].includes(unquote(v).toLowerCase())
            ? undefined
            : "admits TLS versions older than 1.2; leave it TLSv1.2 or higher",
    // Continuous archiving (docs/pitr.md): the commands run a shell as the server's OS user for every segment;
    // only pgBackRest's, exactly as render/pitr.ts renders them (test/policies/pitr.test.ts ties the two).
    archive_command: (v) =>
        unquote(v) === "" || unquote(v) === `${PGBACKREST_COMMAND} archive-push %p`
            ? undefined
            : `runs a shell command as the server's OS user for every WAL segment; the standard archives with '${PGBACKREST_COMMAND} archive-push %p' only (pitrEnabled)`,
    restore_command: (v) =>
        unquote(v) === "" || unquote(v) === `${PGBACKREST_COMMAND} archive-get %f "%p"`
            ? undefined
            : `runs a shell command as the server's OS user in recovery; the standard restores with '${PGBACKREST_COMMAND} archive-get %f "%p"' only (pitrEnabled)`,
    archive_library: (v) =>
        unquote(v) === ""
            ? undefined
            : "loads a library into the archiver process; the standard archives with pgBackRest's archive_command",
    include: () => "reads settings from a file the ConfigMap does not carry; put every setting in the rendered file",
    include_if_exists: () => "reads settings from a file the ConfigMap does not carry; put every setting in the rendered file",
    include_dir: () => "reads settings from files the ConfigMap does not carry; put every setting in the rendered file",
};

/** Every refused setting of a parsed postgresql.conf (name → raw value), in the file's order. */
export function securitySettingProblems(conf: ReadonlyMap<string, string>): { name: string; value: string; problem: string }[] {
    const found: { name: string; value: string; problem: string }[] = [];
    for (const [name, value] of conf) {
        const problem = SECURITY_SETTING_RULES[name]?.(value);
        if (problem !== undefined) {
            found.push({ name, value, problem });
        }
    }
    return found;
}

/**
 * Why a pg_hba.conf line reads rules from elsewhere, or undefined: PostgreSQL 16's `include`, `include_if_exists`
 * and `include_dir` lines, and `@file` in the database or user field, take rules or names from files the
 * ConfigMap does not carry.
 */
export function hbaIncludeProblem(fields: { type: string; database?: string; user?: string }): string | undefined {
    if (["include", "include_if_exists", "include_dir"].includes(fields.type)) {
        return "reads rules from a file the ConfigMap does not carry";
    }
    if ([fields.database, fields.user].some((f) => f?.split(",").some((x) => x.startsWith("@")))) {
        return "reads names from a file the ConfigMap does not carry";
    }
    return undefined;
}
