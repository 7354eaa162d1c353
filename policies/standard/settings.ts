/**
 * PostgreSQL server settings of the standard (STANDARD §3) and how the memory-dependent ones follow the
 * pod's memory limit. Pure and dependency-free: the renderer, the policy pack and the live verifier use it.
 */
import { formatBytes } from "./quantity";
import { PRELOAD_LIBRARIES } from "./rules";

const MiB = 1024 * 1024;

/** The standard's values, literally as HIP-29 prints them for its 2Gi pod. */
export const SEED_SETTINGS: Readonly<Record<string, string>> = {
    max_connections: "200",
    shared_buffers: "512MB",
    effective_cache_size: "1536MB",
    work_mem: "4MB",
    maintenance_work_mem: "128MB",
    wal_level: "replica",
    max_wal_senders: "3",
    wal_keep_size: "1GB",
    max_parallel_maintenance_workers: "2",
    max_parallel_workers_per_gather: "2",
    log_min_duration_statement: "1000",
    log_statement: "ddl",
    log_connections: "on",
    log_disconnections: "on",
    checkpoint_completion_target: "0.9",
    checkpoint_timeout: "10min",
};

/** Settings whose value is derived from the pod's memory limit; every other standard value is fixed. */
export const MEMORY_DERIVED_SETTINGS = ["shared_buffers", "effective_cache_size", "maintenance_work_mem"] as const;

export interface Setting {
    readonly name: string;
    readonly value: string;
    /** One line saying where the value comes from; rendered as a comment. */
    readonly why: string;
}

/** Formats a byte count as whole megabytes, the unit PostgreSQL reads without ambiguity. */
export function megabytes(bytes: number): string {
    return `${Math.floor(bytes / MiB)}MB`;
}

/**
 * The memory a pod of `memoryLimitBytes` gives each memory-derived setting.
 *
 * - shared_buffers = 1/4 of the limit (the usual guidance; 512MB at the standard's 2Gi);
 * - effective_cache_size = 3/4 of the limit (a planner hint, allocates nothing; 1536MB at 2Gi);
 * - maintenance_work_mem = 1/4 of the limit (512MB at 2Gi). The seed's 128MB makes an HNSW build of
 *   50,000 × 1536-d vectors spill out of memory after ~19,000 tuples and run ~3× slower; 1/4 keeps the
 *   graph in memory. A parallel index build places it in dynamic shared memory, i.e. /dev/shm, which
 *   `shmSizeBytes` sizes to hold it.
 */
export function memorySettings(memoryLimitBytes: number): Record<(typeof MEMORY_DERIVED_SETTINGS)[number], number> {
    return {
        shared_buffers: Math.floor(memoryLimitBytes / 4),
        effective_cache_size: Math.floor((memoryLimitBytes * 3) / 4),
        maintenance_work_mem: Math.floor(memoryLimitBytes / 4),
    };
}

/**
 * Size of the memory-backed /dev/shm volume (STANDARD defect 6): half the memory limit, enough for
 * maintenance_work_mem (1/4) in a parallel build plus parallel query hash tables. It counts against the
 * container's memory limit only while used.
 */
export function shmSizeBytes(memoryLimitBytes: number): number {
    return Math.floor(memoryLimitBytes / 2);
}

/** Every setting postgresql.conf carries for a pod with this memory limit, in a stable order. */
export function serverSettings(memoryLimitBytes: number): Setting[] {
    const derived = memorySettings(memoryLimitBytes);
    const limit = formatBytes(memoryLimitBytes);
    const why: Record<string, string> = {
        shared_buffers: `1/4 of the ${limit} memory limit`,
        effective_cache_size: `3/4 of the ${limit} memory limit (planner hint; allocates nothing)`,
        maintenance_work_mem: `1/4 of the ${limit} memory limit, so HNSW index builds stay in memory`,
    };
    const settings: Setting[] = [
        { name: "listen_addresses", value: "'*'", why: "reachable on the pod network; pg_hba.conf decides who may connect" },
        { name: "port", value: "5432", why: "the standard's port" },
        { name: "password_encryption", value: "'scram-sha-256'", why: "SCRAM, as pg_hba.conf requires (STANDARD defect 9)" },
        {
            name: "shared_preload_libraries",
            value: `'${PRELOAD_LIBRARIES.join(",")}'`,
            why: "pg_stat_statements works only when preloaded (STANDARD defect 2)",
        },
        {
            name: "lo_compat_privileges",
            value: "on",
            why: "the backup role reads large objects, which pg_read_all_data does not cover (STANDARD defect 18; README: Backups)",
        },
    ];
    for (const [name, seedValue] of Object.entries(SEED_SETTINGS)) {
        const derivedBytes = (derived as Record<string, number | undefined>)[name];
        if (derivedBytes !== undefined) {
            settings.push({ name, value: megabytes(derivedBytes), why: why[name] });
        } else {
            settings.push({ name, value: quoteIfText(seedValue), why: "the standard's value" });
        }
    }
    return settings;
}

/** Quotes values that postgresql.conf needs quoted (anything not a plain number, unit or keyword). */
function quoteIfText(value: string): string {
    return /^[0-9.]+([a-zA-Z]+)?$|^(on|off|true|false|replica|minimal|logical)$/.test(value) ? value : `'${value}'`;
}

/** Removes postgresql.conf quoting: `'ddl'` → `ddl`. */
export function unquote(value: string): string {
    return value.startsWith("'") && value.endsWith("'") ? value.slice(1, -1).replace(/''/g, "'") : value;
}
