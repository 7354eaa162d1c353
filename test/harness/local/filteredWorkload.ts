/**
 * A filtered vector workload at chosen filter selectivities, for HIP-29's semantic-cache query verbatim: the
 * vector benchmark's matrix (bench/vectorMatrix.ts) and the real-server test (test/db/vector.test.ts) use it,
 * so both measure the same thing.
 *
 * Selectivity without touching the big table: every cache entry belongs to one of USERS users (uniform,
 * seeded, independent of its topic), and each selectivity has its own schema holding its own small `users`
 * table in which org 1 owns the first s × USERS users. The query runs with that schema first on its
 * search_path, so its text is HIP-29's exactly and `u.org_id = 1` keeps s of the rows (every entry is
 * `gpt-4o`, so the model filter keeps them all). The entries are clustered (SemanticCacheData's topics).
 * Half the probes are near-repeats of an entry of the tenant (cache hits), half fresh questions (mostly
 * misses: fewer than 5 entries within the 0.3 threshold, which an index scan cannot stop early on).
 */
import { Client } from "pg";
import { SemanticCacheData, prng, semanticCacheSchema } from "./semanticCache";

/** Users the entries are spread over: selectivities are multiples of 1/USERS (0.1%). */
export const USERS = 1000;

export const HNSW_INDEX = "llm_cache_hnsw";
export const FILTER_INDEX = "llm_cache_user_model";

/** The schema of one selectivity, e.g. `sel_0_1` for 0.1%. */
export const selectivitySchema = (s: number) => `sel_${String(s).replace(".", "_")}`;

/** Users org 1 owns at selectivity `s` percent. */
export function tenantUsers(s: number): number {
    const n = Math.round((s * USERS) / 100);
    if (n < 1 || n > USERS || Math.abs((n * 100) / USERS - s) > 1e-9) {
        throw new Error(`a selectivity is a multiple of ${100 / USERS}% from ${100 / USERS}% to 100%, not ${s}%`);
    }
    return n;
}

export interface WorkloadOptions {
    readonly rows: number;
    readonly dims: number;
    readonly topics: number;
    /** Percent of the rows the filter keeps, each a multiple of 0.1. */
    readonly selectivities: readonly number[];
    /** Probes per selectivity. */
    readonly probes: number;
}

export interface Probe {
    /** halfvec text. */
    readonly vector: string;
    readonly hit: boolean;
}

/** The query's parameters for a probe: org 1, model gpt-4o. */
export const probeParams = (p: Probe) => [p.vector, 1, "gpt-4o"];

/**
 * Creates the tables (llm_cache with a halfvec column, users, one schema per selectivity) in the current
 * database and loads `rows` entries; returns the probes of each selectivity. No index on llm_cache but its
 * primary key: `createIndexes` adds them.
 */
export async function loadWorkload(c: Client, opts: WorkloadOptions): Promise<Map<number, Probe[]>> {
    const selectivities = opts.selectivities.map((s) => ({ s, users: tenantUsers(s) }));
    await c.query(semanticCacheSchema(opts.dims, "halfvec"));
    await c.query("INSERT INTO users SELECT i, 0 FROM generate_series(1, $1::int) i", [USERS]);
    for (const { s, users } of selectivities) {
        const schema = selectivitySchema(s);
        await c.query(`CREATE SCHEMA ${schema}`);
        await c.query(`CREATE TABLE ${schema}.users (id int PRIMARY KEY, org_id int NOT NULL)`);
        await c.query(`CREATE INDEX ON ${schema}.users (org_id)`);
        await c.query(`INSERT INTO ${schema}.users SELECT i, CASE WHEN i <= $2 THEN 1 ELSE 2 END FROM generate_series(1, $1::int) i`, [
            USERS,
            users,
        ]);
    }
    const data = new SemanticCacheData(opts.dims, 300, 5, opts.topics);
    const random = prng(25);
    const L = SemanticCacheData.LATENT;
    const latents = new Float32Array(opts.rows * L);
    const userOf = new Int16Array(opts.rows);
    for (let start = 0; start < opts.rows; start += 500) {
        const n = Math.min(500, opts.rows - start);
        const ids: number[] = [];
        const users: number[] = [];
        const vectors: string[] = [];
        for (let i = start; i < start + n; i++) {
            const latent = data.row().latent;
            latents.set(latent, i * L);
            userOf[i] = 1 + Math.floor(random() * USERS);
            ids.push(i + 1);
            users.push(userOf[i]);
            vectors.push(data.embed(latent));
        }
        await c.query(
            "INSERT INTO llm_cache SELECT id, user_id, 'gpt-4o', 'response ' || id, embedding FROM unnest($1::bigint[], $2::int[], $3::halfvec[]) AS t(id, user_id, embedding)",
            [ids, users, vectors],
        );
    }
    await c.query("VACUUM ANALYZE llm_cache, users");
    for (const { s } of selectivities) {
        await c.query(`ANALYZE ${selectivitySchema(s)}.users`);
    }
    const latentOf = (i: number) => Float64Array.from(latents.subarray(i * L, (i + 1) * L));
    const probes = new Map<number, Probe[]>();
    for (const { s, users } of selectivities) {
        const mine: number[] = [];
        for (let i = 0; i < opts.rows && mine.length < 5000; i++) {
            if (userOf[i] <= users) {
                mine.push(i);
            }
        }
        probes.set(
            s,
            Array.from({ length: opts.probes }, (_, q) =>
                q % 2 === 0
                    ? { vector: data.embed(data.near(latentOf(mine[Math.floor(random() * mine.length)]))), hit: true }
                    : { vector: data.embed(data.row().latent), hit: false },
            ),
        );
    }
    return probes;
}

/** The indexes the schema asks a service to create (docs/vector-search.md): HNSW on the embedding, a B-tree on the filter. */
export function indexStatements(opts: { m: number; efConstruction: number }): { hnsw: string; filter: string } {
    return {
        hnsw: `CREATE INDEX ${HNSW_INDEX} ON llm_cache USING hnsw (embedding halfvec_cosine_ops) WITH (m = ${opts.m}, ef_construction = ${opts.efConstruction})`,
        filter: `CREATE INDEX ${FILTER_INDEX} ON llm_cache (user_id, model)`,
    };
}

/** Which path a plan takes to llm_cache: `hnsw`, `btree` (exact), `seq` (exact). */
export async function planPath(c: Client, sql: string, params: unknown[]): Promise<string> {
    const plan = JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows);
    const names = new Set([...plan.matchAll(/"Index Name":"(llm_cache[a-z0-9_]*)"/g)].map((m) => m[1]));
    return names.has(HNSW_INDEX)
        ? "hnsw"
        : names.has(FILTER_INDEX)
          ? "btree"
          : plan.includes('"Relation Name":"llm_cache"')
            ? "seq"
            : "other";
}

/** Recall of `got` against `exact` (ids per probe): the share of the exact rows returned (1 when there are none). */
export function recallOf(got: readonly (readonly number[])[], exact: readonly (readonly number[])[]): number {
    const total = exact.reduce((n, e) => n + e.length, 0);
    const hits = got.reduce((n, g, i) => n + g.filter((id) => exact[i].includes(id)).length, 0);
    return total === 0 ? 1 : hits / total;
}
