/**
 * PostgreSQL server settings of the standard (STANDARD §3) and how the memory-dependent ones follow the
 * pod's memory limit. Pure and dependency-free: the renderer, the policy pack and the live verifier use it.
 */
import { POSTGRES_PORT } from "./ports";
import { formatBytes } from "./quantity";
import { PRELOAD_LIBRARIES } from "./rules";
import { NO_STANDBYS, ReplicationSpec, maxWalSenders, replicationSettings } from "./replication";

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

/**
 * Standard settings a stack may raise but never lower: max_wal_senders grows with the standbys (one each, two
 * for a clone; policies/standard/replication.ts). The policy pack accepts any value at least the standard's.
 */
export const AT_LEAST_SETTINGS: readonly string[] = ["max_wal_senders"];

/** Settings whose value is derived from the pod's memory limit; every other standard value is fixed. */
export const MEMORY_DERIVED_SETTINGS = ["shared_buffers", "effective_cache_size", "maintenance_work_mem", "autovacuum_work_mem"] as const;

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
 * - maintenance_work_mem = 1/2 of the limit (1GB at 2Gi): an HNSW build keeps its whole graph in it
 *   (`hnswBuildBytes`) and spills out of it ("hnsw graph no longer fits into maintenance_work_mem") into a
 *   build several times slower. 1/2 holds 1M halfvec(256) entries at 4Gi and 1M halfvec(1536) at 12Gi
 *   (docs/vector-search.md); with shared_buffers that is 3/4 of the limit while a build runs, and nothing
 *   otherwise (it is a cap, allocated as used);
 * - autovacuum_work_mem = 1/16 of the limit, at most 1GB (vacuum uses no more): without it each of the 3
 *   autovacuum workers may take maintenance_work_mem, 3/2 of the limit.
 *
 * A parallel index build places the graph in dynamic shared memory, i.e. /dev/shm, which `shmSizeBytes`
 * sizes to hold it.
 */
export function memorySettings(memoryLimitBytes: number): Record<(typeof MEMORY_DERIVED_SETTINGS)[number], number> {
    return {
        shared_buffers: Math.floor(memoryLimitBytes / 4),
        effective_cache_size: Math.floor((memoryLimitBytes * 3) / 4),
        maintenance_work_mem: Math.floor(memoryLimitBytes / 2),
        autovacuum_work_mem: Math.min(1024 * MiB, Math.floor(memoryLimitBytes / 16)),
    };
}

/**
 * Bytes of maintenance_work_mem an HNSW build (m = 16) needs to keep the graph of `entries` entries of `dims`
 * dimensions in memory: 1,000 + 2.7·d per halfvec entry, 1,000 + 4·d per vector entry, rounded up from the
 * spill points measured here (pgvector 0.8.0's NOTICE "… after N tuples": 16MB held 10,545 halfvec(256) and
 * 4,607 halfvec(1024) entries, 512MB 78,036 vector(1536) ones, i.e. 1,591, 3,642 and 6,880 bytes each).
 */
export function hnswBuildBytes(entries: number, dims: number, type: "vector" | "halfvec"): number {
    return Math.ceil(entries * (1000 + (type === "vector" ? 4 : 2.7) * dims));
}

/** Settings whose value is derived from the pod's CPU limit. */
export const CPU_DERIVED_SETTINGS = ["max_parallel_maintenance_workers"] as const;

/** The CPU limit of the server container when the stack does not set one (stacks/schema.ts cpuLimit). */
export const DEFAULT_CPU_LIMIT_CORES = 2;

/**
 * The CPU a pod of `cpuLimitCores` gives each CPU-derived setting: max_parallel_maintenance_workers = the cores
 * less one, at most 8 (max_worker_processes' default), because the leader of a parallel index build works as
 * one more builder (pgvector 0.8 src/hnswbuild.c `HnswLeaderParticipateAsWorker`; PostgreSQL's B-tree build
 * likewise): one worker at the standard's 2 cores keeps a build at the limit instead of three processes on two
 * cores. pgvector takes the table's `parallel_workers` when set, capped by this (`ComputeParallelWorkers`).
 */
export function cpuSettings(cpuLimitCores: number): Record<(typeof CPU_DERIVED_SETTINGS)[number], number> {
    return { max_parallel_maintenance_workers: Math.min(8, Math.max(0, Math.ceil(cpuLimitCores) - 1)) };
}

/**
 * Size of the memory-backed /dev/shm volume (STANDARD defect 6): 3/4 of the memory limit, enough for
 * maintenance_work_mem (1/2) in a parallel build (pgvector allocates the whole graph area there) plus
 * parallel query hash tables. It counts against the container's memory limit only while used.
 */
export function shmSizeBytes(memoryLimitBytes: number): number {
    return Math.floor((memoryLimitBytes * 3) / 4);
}

/**
 * pgvector's query settings the server sets (postgresql.conf), so that the standard's filtered vector query
 * (HIP-29's semantic cache: `WHERE u.org_id = $2 AND c.model = $3 … ORDER BY distance LIMIT 5`) returns its
 * rows. Without iterative scans an HNSW scan stops after `hnsw.ef_search` candidates and the filter throws
 * most of them away: a tenant gets 1 row of 5 (issue #16). Stack keys: hnswIterativeScan, hnswEfSearch,
 * hnswMaxScanTuples, ivfflatIterativeScan. Every value is measured by `npm run bench:vector` (docs/vector-search.md,
 * "What the server sets").
 */
export interface VectorSettings {
    /** hnsw.iterative_scan: keep scanning the graph until the filter has let LIMIT rows through. */
    readonly hnswIterativeScan: "off" | "relaxed_order" | "strict_order";
    /** hnsw.ef_search: candidates per (iterative) step; recall against latency. */
    readonly hnswEfSearch: number;
    /** hnsw.max_scan_tuples: where an iterative scan gives up (bounds the latency of a query with few matches). */
    readonly hnswMaxScanTuples: number;
    /** ivfflat.iterative_scan: the same for IVFFlat indexes (pgvector has no strict order for them). */
    readonly ivfflatIterativeScan: "off" | "relaxed_order";
}

export const VECTOR_DEFAULTS: VectorSettings = {
    hnswIterativeScan: "strict_order",
    hnswEfSearch: 200,
    hnswMaxScanTuples: 20000,
    ivfflatIterativeScan: "relaxed_order",
};

/**
 * The values pgvector 0.8.0 accepts (src/hnsw.c, src/ivfflat.c `_PG_init`; the same as pg_settings'
 * min_val/max_val/enumvals once the library is loaded). pgvector is not preloaded, so PostgreSQL keeps these
 * lines as placeholders and validates them only when a session loads the library: an invalid value is then
 * replaced by pgvector's default with nothing but a WARNING (pg_file_settings shows no error). They are
 * therefore validated here, before anything is rendered, and by the policy pack.
 */
export const VECTOR_SETTING_RULES: Readonly<
    Record<
        keyof VectorSettings,
        { readonly guc: string; readonly values?: readonly string[]; readonly min?: number; readonly max?: number }
    >
> = {
    hnswIterativeScan: { guc: "hnsw.iterative_scan", values: ["off", "relaxed_order", "strict_order"] },
    hnswEfSearch: { guc: "hnsw.ef_search", min: 1, max: 1000 },
    hnswMaxScanTuples: { guc: "hnsw.max_scan_tuples", min: 1, max: 2147483647 },
    ivfflatIterativeScan: { guc: "ivfflat.iterative_scan", values: ["off", "relaxed_order"] },
};

/** Why `value` is not a valid value of the pgvector setting `guc`, or undefined when it is. */
export function vectorSettingProblem(guc: string, value: string): string | undefined {
    const rule = Object.values(VECTOR_SETTING_RULES).find((r) => r.guc === guc);
    if (rule === undefined) {
        return `is not a pgvector setting the standard renders (${Object.values(VECTOR_SETTING_RULES)
            .map((r) => r.guc)
            .join(", ")})`;
    }
    if (rule.values) {
        return rule.values.includes(unquote(value)) ? undefined : `must be one of ${rule.values.join(", ")}`;
    }
    const n = Number(value);
    return /^[0-9]+$/.test(value) && n >= rule.min! && n <= rule.max!
        ? undefined
        : `must be a whole number from ${rule.min} to ${rule.max} (pgvector's range)`;
}

/** The postgresql.conf lines of the vector settings, each with the reason for its value. */
export function vectorSettings(v: VectorSettings = VECTOR_DEFAULTS): Setting[] {
    // Numbers: `npm run bench:vector` (docs/vector-search.md): the matrix (1M halfvec(256) entries, HIP-29's query at
    // filter selectivities 0.1-100%) and the earlier semantic section (100,000 × 1536-d, Zipf tenants).
    const why = (x: string | number, d: string | number, measured: string) =>
        x === d ? measured : `stack value; the measured default is ${d}`;
    return [
        {
            name: "hnsw.iterative_scan",
            value: v.hnswIterativeScan,
            why: why(
                v.hnswIterativeScan,
                VECTOR_DEFAULTS.hnswIterativeScan,
                "filtered queries return their LIMIT: off gave 5 of 5 rows for 26 of 57 tenants, strict 57 of 57, in exact order",
            ),
        },
        {
            name: "hnsw.ef_search",
            value: String(v.hnswEfSearch),
            why: why(
                v.hnswEfSearch,
                VECTOR_DEFAULTS.hnswEfSearch,
                "1M entries, filters keeping 0.1-100%: at 100 strict lost full answers at 10% and 50% (recall@5 0.950, 0.968), at 200 none (>= 0.980)",
            ),
        },
        {
            name: "hnsw.max_scan_tuples",
            value: String(v.hnswMaxScanTuples),
            why: why(
                v.hnswMaxScanTuples,
                VECTOR_DEFAULTS.hnswMaxScanTuples,
                "pgvector's: 2000 bounds latency but lost rows (53 of 57 full answers); small tenants belong on a B-tree",
            ),
        },
        {
            name: "ivfflat.iterative_scan",
            value: v.ivfflatIterativeScan,
            why: why(
                v.ivfflatIterativeScan,
                VECTOR_DEFAULTS.ivfflatIterativeScan,
                "the same for IVFFlat (pgvector has no strict order there); not benchmarked",
            ),
        },
    ];
}

/**
 * Every setting postgresql.conf carries for a pod with this memory limit, in a stable order: the server's,
 * the standard's (memory ones derived from the limit), pgvector's query settings, then continuous archiving's
 * when the stack has it (render/pitr.ts `archiveSettings`).
 */
export function serverSettings(
    memoryLimitBytes: number,
    vector: VectorSettings = VECTOR_DEFAULTS,
    extra: {
        /** The standbys the primary serves (policies/standard/replication.ts), and the volume their slots' WAL fills. */
        readonly replication?: { readonly spec: ReplicationSpec; readonly storageBytes: number };
        /** Continuous archiving's settings (render/pitr.ts `archiveSettings`). */
        readonly archive?: readonly Setting[];
        /** The server container's CPU limit in cores (default DEFAULT_CPU_LIMIT_CORES, the stack's default). */
        readonly cpuLimitCores?: number;
    } = {},
): Setting[] {
    const replication = extra.replication ?? { spec: NO_STANDBYS, storageBytes: 0 };
    const cores = extra.cpuLimitCores ?? DEFAULT_CPU_LIMIT_CORES;
    const derived = { ...memorySettings(memoryLimitBytes), ...cpuSettings(cores) };
    const limit = formatBytes(memoryLimitBytes);
    const why: Record<string, string> = {
        shared_buffers: `1/4 of the ${limit} memory limit`,
        effective_cache_size: `3/4 of the ${limit} memory limit (planner hint; allocates nothing)`,
        maintenance_work_mem: `1/2 of the ${limit} memory limit, so HNSW index builds stay in memory`,
        max_parallel_maintenance_workers: `the ${cores}-core CPU limit less the leader, which builds too`,
        autovacuum_work_mem: `1/16 of the ${limit} memory limit (at most 1GB), not maintenance_work_mem per autovacuum worker`,
    };
    const settings: Setting[] = [
        { name: "listen_addresses", value: "'*'", why: "reachable on the pod network; pg_hba.conf decides who may connect" },
        { name: "port", value: String(POSTGRES_PORT), why: "the standard's port" },
        { name: "password_encryption", value: "'scram-sha-256'", why: "SCRAM, as pg_hba.conf requires (STANDARD defect 9)" },
        {
            name: "shared_preload_libraries",
            value: `'${PRELOAD_LIBRARIES.join(",")}'`,
            why: "pg_stat_statements works only when preloaded (STANDARD defect 2)",
        },
        {
            name: "lo_compat_privileges",
            value: "on",
            why: "the backup role reads large objects, which pg_read_all_data does not cover (STANDARD defect 18; docs/backups.md)",
        },
    ];
    for (const [name, seedValue] of Object.entries(SEED_SETTINGS)) {
        const derivedBytes = (derived as Record<string, number | undefined>)[name];
        if ((CPU_DERIVED_SETTINGS as readonly string[]).includes(name)) {
            settings.push({ name, value: String(derivedBytes), why: why[name] });
        } else if (derivedBytes !== undefined) {
            settings.push({ name, value: megabytes(derivedBytes), why: why[name] });
        } else if (name === "max_wal_senders" && replication.spec.standbys > 0) {
            const n = maxWalSenders(replication.spec, Number(seedValue));
            settings.push({ name, value: String(n), why: "one per standby plus two for a clone, at least the standard's 3" });
        } else {
            settings.push({ name, value: quoteIfText(seedValue), why: "the standard's value" });
        }
    }
    for (const name of MEMORY_DERIVED_SETTINGS.filter((n) => !(n in SEED_SETTINGS))) {
        settings.push({ name, value: megabytes((derived as Record<string, number>)[name]), why: why[name] });
    }
    const replicated = [...settings, ...replicationSettings(replication.spec, replication.storageBytes), ...vectorSettings(vector)];
    // Both replication and archiving bound max_slot_wal_keep_size; one line per setting, the replication's first.
    const named = new Set(replicated.map((x) => x.name));
    return [...replicated, ...(extra.archive ?? []).filter((x) => !named.has(x.name))];
}

/** Quotes values that postgresql.conf needs quoted (anything not a plain number, unit or keyword). */
function quoteIfText(value: string): string {
    return /^[0-9.]+([a-zA-Z]+)?$|^(on|off|true|false|replica|minimal|logical)$/.test(value) ? value : `'${value}'`;
}

/** Removes postgresql.conf quoting: `'ddl'` → `ddl`. */
export function unquote(value: string): string {
    return value.startsWith("'") && value.endsWith("'") ? value.slice(1, -1).replace(/''/g, "'") : value;
}
