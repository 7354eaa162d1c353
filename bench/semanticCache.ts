/**
 * The semantic-cache section of `npm run bench:vector`: HIP-29's own filtered query (the join to `users` on
 * `org_id`, the model filter, the `< 0.3` threshold, `LIMIT 5`) on embedding-shaped 1536-d cache entries of
 * Zipf-sized tenants and skewed models, on a server running the rendered postgresql.conf. For each indexing
 * strategy a service could choose and each candidate query setting it prints rows returned against the exact
 * answer, recall@5 and p50/p99, and each index's build time, size and whether its build spilled.
 */
import { performance } from "perf_hooks";
import { Client } from "pg";
import { hbaRules } from "../policies/standard/pgHba";
import { renderPgHba } from "../render/pgHba";
import { renderPostgresqlConf } from "../render/postgresqlConf";
import { serverSettings, unquote } from "../policies/standard/settings";
import { MODELS, SemanticCacheData, prng, semanticCacheQuery, semanticCacheSchema } from "../test/harness/local/semanticCache";
import { PgServer } from "../test/harness/pg/server";

const DIM = 1536;
export const SPILL = "hnsw graph no longer fits into maintenance_work_mem";

export interface SemanticOptions {
    readonly memoryLimitBytes: number;
    readonly rows: number;
    readonly queries: number;
    readonly orgs: number;
    readonly topics: number;
    readonly efSearches: readonly number[];
    readonly maxScanTuples: readonly number[];
    /** Only the strategies whose names start with one of these. */
    readonly strategies?: readonly string[];
}

interface Probe {
    readonly vector: string;
    readonly org: number;
    readonly model: string;
    /** Rows of this tenant and model in the table. */
    readonly tenantRows: number;
}

interface IndexDef {
    readonly name: string;
    readonly sql: string;
}

interface Strategy {
    readonly name: string;
    /** Indexes the strategy keeps; every other index of INDEXES is dropped (in a transaction rolled back after). */
    readonly keep: readonly string[];
    readonly halfvec?: boolean;
    /** The query, when not HIP-29's text (same answer, different shape). */
    readonly query?: string;
    /** Session settings of the strategy (pgvector's README: encourage the index in the query's transaction). */
    readonly session?: string;
}

const slug = (model: string) => model.replace(/[^a-z0-9]+/g, "_");

const INDEXES: readonly IndexDef[] = [
    {
        name: "llm_cache_hnsw",
        sql: "CREATE INDEX llm_cache_hnsw ON llm_cache USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
    },
    ...MODELS.map((m) => ({
        name: `llm_cache_hnsw_${slug(m.name)}`,
        sql: `CREATE INDEX llm_cache_hnsw_${slug(m.name)} ON llm_cache USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE model = '${m.name}'`,
    })),
    { name: "llm_cache_user_model", sql: "CREATE INDEX llm_cache_user_model ON llm_cache (user_id, model)" },
    { name: "llm_cache_org_model", sql: "CREATE INDEX llm_cache_org_model ON llm_cache (org_id, model)" },
    {
        name: "llm_cache_hnsw_half",
        sql: `CREATE INDEX llm_cache_hnsw_half ON llm_cache USING hnsw ((embedding::halfvec(${DIM})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`,
    },
];
const PARTIALS = MODELS.map((m) => `llm_cache_hnsw_${slug(m.name)}`);

/**
 * The same answer as HIP-29's query with the tenant on the cache row, and the distance threshold applied after
 * LIMIT (pgvector's README: a WHERE on the distance cannot stop an index scan, so a tenant with fewer than 5
 * matches makes an iterative scan read up to hnsw.max_scan_tuples). The 5 nearest of the tenant, then those
 * nearer than 0.3: exactly the nearest (up to 5) nearer than 0.3.
 */
export const TENANT_QUERY = `WITH nearest AS MATERIALIZED (
    SELECT c.id, c.response, c.embedding <=> $1::vector AS distance
      FROM llm_cache c
     WHERE c.org_id = $2 AND c.model = $3
     ORDER BY distance
     LIMIT 5)
SELECT * FROM nearest WHERE distance < 0.3 ORDER BY distance`;
/** HIP-29's shape with the tenant column: the threshold in the WHERE. */
const TENANT_QUERY_HIP = `SELECT c.id, c.response, c.embedding <=> $1::vector AS distance
  FROM llm_cache c
 WHERE c.org_id = $2 AND c.model = $3 AND c.embedding <=> $1::vector < 0.3
 ORDER BY distance
 LIMIT 5`;

const STRATEGIES: readonly Strategy[] = [
    { name: "one HNSW", keep: ["llm_cache_hnsw"] },
    { name: "one HNSW, seqscan off", keep: ["llm_cache_hnsw"], session: "enable_seqscan = off" },
    { name: "HNSW per model (partial)", keep: PARTIALS },
    { name: "one HNSW + B-tree", keep: ["llm_cache_hnsw", "llm_cache_user_model"] },
    { name: "per model + B-tree", keep: [...PARTIALS, "llm_cache_user_model"] },
    { name: "halfvec HNSW", keep: ["llm_cache_hnsw_half"], halfvec: true },
    { name: "halfvec HNSW, seqscan off", keep: ["llm_cache_hnsw_half"], halfvec: true, session: "enable_seqscan = off" },
    { name: "halfvec HNSW + B-tree", keep: ["llm_cache_hnsw_half", "llm_cache_user_model"], halfvec: true },
    { name: "tenant col + B-tree, CTE", keep: ["llm_cache_hnsw", "llm_cache_org_model"], query: TENANT_QUERY },
    { name: "tenant col + B-tree, HIP", keep: ["llm_cache_hnsw", "llm_cache_org_model"], query: TENANT_QUERY_HIP },
    { name: "per model + tenant B-tree, CTE", keep: [...PARTIALS, "llm_cache_org_model"], query: TENANT_QUERY },
];

export function percentile(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Loads users and `rows` cache entries; returns the probes (near-repeats of stored entries). */
async function load(c: Client, opts: SemanticOptions): Promise<Probe[]> {
    const data = new SemanticCacheData(DIM, opts.orgs, 5, opts.topics);
    await c.query(semanticCacheSchema(DIM));
    // The tenant on the cache row too (a service can denormalise it): only then does the planner know a
    // tenant's size (per-value statistics of llm_cache.org_id) and can choose exact search for small ones.
    await c.query("ALTER TABLE llm_cache ADD COLUMN org_id int NOT NULL");
    // Vectors this size are TOASTed: without this the planner gives an index build no parallel workers.
    await c.query("ALTER TABLE llm_cache SET (parallel_workers = 2)");
    const users = data.users();
    await c.query("INSERT INTO users SELECT * FROM unnest($1::int[], $2::int[])", [users.map((u) => u.id), users.map((u) => u.org)]);
    const meta: { org: number; model: string; latent: Float64Array }[] = [];
    for (let start = 0; start < opts.rows; start += 200) {
        const batch = Array.from({ length: Math.min(200, opts.rows - start) }, () => data.row());
        await c.query(
            "INSERT INTO llm_cache SELECT id, user_id, model, 'response ' || id, embedding, org_id FROM unnest($1::bigint[], $2::int[], $3::text[], $4::vector[], $5::int[]) AS t(id, user_id, model, embedding, org_id)",
            [
                batch.map((r) => r.id),
                batch.map((r) => r.userId),
                batch.map((r) => r.model),
                batch.map((r) => data.embed(r.latent)),
                batch.map((r) => r.org),
            ],
        );
        meta.push(...batch.map((r) => ({ org: r.org, model: r.model, latent: r.latent })));
    }
    await c.query("VACUUM ANALYZE users, llm_cache");
    const tenantRows = new Map<string, number>();
    for (const m of meta) {
        tenantRows.set(`${m.org}/${m.model}`, (tenantRows.get(`${m.org}/${m.model}`) ?? 0) + 1);
    }
    const byOrg = new Map<number, number[]>();
    meta.forEach((m, i) => byOrg.set(m.org, [...(byOrg.get(m.org) ?? []), i]));
    const orgs = [...byOrg.keys()];
    // Half the probes repeat a random entry (traffic: big tenants dominate), half a random tenant's entry
    // (every tenant counts: small tenants are where a filter keeps few rows).
    const random = prng(4242);
    const pick = (n: number) => Math.floor(random() * n);
    const sources = Array.from({ length: opts.queries }, (_, q) => {
        if (q % 2 === 0) {
            return pick(meta.length);
        }
        const rows = byOrg.get(orgs[pick(orgs.length)])!;
        return rows[pick(rows.length)];
    });
    return sources.map((i) => ({
        vector: data.embed(data.near(meta[i].latent)),
        org: meta[i].org,
        model: meta[i].model,
        tenantRows: tenantRows.get(`${meta[i].org}/${meta[i].model}`)!,
    }));
}

async function buildIndexes(c: Client, indexes: readonly IndexDef[]): Promise<void> {
    console.log(`${"index".padEnd(36)} ${"build".padStart(8)} ${"size".padStart(9)}  graph`);
    for (const ix of indexes) {
        const notices: string[] = [];
        const listener = (n: { message?: string }) => notices.push(n.message ?? "");
        c.on("notice", listener);
        const t0 = performance.now();
        await c.query(ix.sql);
        const seconds = (performance.now() - t0) / 1000;
        c.off("notice", listener);
        const size = Number((await c.query("SELECT pg_relation_size($1::regclass) AS b", [ix.name])).rows[0].b);
        const spill = notices.find((n) => n.includes(SPILL));
        const graph = ix.sql.includes("hnsw")
            ? spill
                ? `spilled: ${spill.replace(/^.*after /, "after ")}`
                : "fit in maintenance_work_mem"
            : "";
        console.log(
            `${ix.name.padEnd(36)} ${seconds.toFixed(1).padStart(6)} s ${`${(size / 2 ** 20).toFixed(1)} MB`.padStart(9)}  ${graph}`,
        );
    }
}

/** The indexes the plan of a query uses, by name. */
async function planIndexes(c: Client, sql: string, p: Probe): Promise<string> {
    const plan = JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) ${sql}`, [p.vector, p.org, p.model])).rows);
    const names = [...new Set([...plan.matchAll(/"Index Name":"(llm_cache[a-z0-9_]*)"/g)].map((m) => m[1]))];
    return names.length ? names.join("+") : "seq scan";
}

interface Candidate {
    readonly iterative: string;
    readonly ef: number;
    readonly maxScanTuples: number;
}

export async function semanticCacheBench(opts: SemanticOptions): Promise<void> {
    const rendered = serverSettings(opts.memoryLimitBytes).filter((s) => /^(hnsw|ivfflat)\./.test(s.name));
    const value = (name: string) => unquote(rendered.find((s) => s.name === name)?.value ?? "");
    const defaults: Candidate = {
        iterative: value("hnsw.iterative_scan") || "off",
        ef: Number(value("hnsw.ef_search") || 40),
        maxScanTuples: Number(value("hnsw.max_scan_tuples") || 20000),
    };
    console.log(
        `\nHIP-29 semantic-cache query: ${opts.rows} × ${DIM}-d entries, ${opts.orgs} orgs (Zipf), ${MODELS.map((m) => `${m.name} ${Math.round(m.share * 100)}%`).join(", ")}, ${opts.topics} topics`,
    );
    console.log(`rendered: ${rendered.map((s) => `${s.name} = ${unquote(s.value)}`).join(", ") || "(no pgvector settings)"}`);
    const server = await PgServer.start({
        postgresqlConf: renderPostgresqlConf(opts.memoryLimitBytes),
        pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])),
    });
    const c = await server.admin();
    try {
        await c.query("CREATE EXTENSION vector");
        const t0 = performance.now();
        const probes = await load(c, opts);
        console.log(
            `load ${((performance.now() - t0) / 1000).toFixed(1)} s; maintenance_work_mem ${(await c.query("SHOW maintenance_work_mem")).rows[0].maintenance_work_mem}, max_parallel_maintenance_workers ${(await c.query("SHOW max_parallel_maintenance_workers")).rows[0].max_parallel_maintenance_workers}`,
        );
        const strategies = STRATEGIES.filter((x) => opts.strategies === undefined || opts.strategies.some((w) => x.name.startsWith(w)));
        const indexes = INDEXES.filter((i) => strategies.some((x) => x.keep.includes(i.name)));
        await buildIndexes(c, indexes);
        await c.query("CHECKPOINT");

        // The exact answer of each probe: the same query with no approximate index.
        const query = semanticCacheQuery();
        await c.query("BEGIN");
        for (const ix of indexes.filter((i) => i.sql.includes("hnsw"))) {
            await c.query(`DROP INDEX ${ix.name}`);
        }
        const exact: number[][] = [];
        for (const p of probes) {
            exact.push((await c.query(query, [p.vector, p.org, p.model])).rows.map((r) => Number(r.id)));
        }
        await c.query("ROLLBACK");
        const withFive = exact.filter((e) => e.length === 5).length;
        const tenants = probes.map((p) => p.tenantRows).sort((a, b) => a - b);
        console.log(
            `${probes.length} probes (near-repeats of stored entries; tenant×model rows: min ${tenants[0]}, median ${percentile(tenants, 50)}, max ${tenants[tenants.length - 1]}); ` +
                `exact answer has 5 rows for ${withFive}, fewer for ${probes.length - withFive} (${exact.reduce((n, e) => n + e.length, 0)} rows in all)`,
        );
        const big = probes.reduce((a, b) => (b.tenantRows > a.tenantRows ? b : a));
        const small = probes.reduce((a, b) => (b.tenantRows < a.tenantRows ? b : a));

        const candidates: Candidate[] = [];
        for (const iterative of ["off", "relaxed_order", "strict_order"]) {
            for (const ef of opts.efSearches) {
                for (const maxScanTuples of iterative === "off" || opts.maxScanTuples.length === 0
                    ? [defaults.maxScanTuples]
                    : opts.maxScanTuples) {
                    candidates.push({ iterative, ef, maxScanTuples });
                }
            }
        }
        const header = `${"strategy".padEnd(30)} ${"iterative_scan".padEnd(14)} ${"ef".padStart(4)} ${"max_tuples".padStart(10)}  ${"5 of 5".padStart(9)} ${"rows/exact".padStart(11)} ${"recall@5".padStart(8)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)}  plan (big / small tenant)`;
        console.log(header);
        for (const strategy of strategies) {
            const sql = strategy.query ?? semanticCacheQuery({ halfvec: strategy.halfvec });
            await c.query("BEGIN");
            for (const ix of indexes.filter((i) => !strategy.keep.includes(i.name))) {
                await c.query(`DROP INDEX ${ix.name}`);
            }
            await c.query("RESET ALL");
            if (strategy.session) {
                await c.query(`SET ${strategy.session}`);
            }
            // Steady state: the indexes read once, untimed.
            await c.query(`SET hnsw.ef_search = ${Math.max(...opts.efSearches)}`);
            for (const p of probes.slice(0, 20)) {
                await c.query(sql, [p.vector, p.org, p.model]);
            }
            for (const k of candidates) {
                await c.query(`SET hnsw.iterative_scan = ${k.iterative}`);
                await c.query(`SET hnsw.ef_search = ${k.ef}`);
                await c.query(`SET hnsw.max_scan_tuples = ${k.maxScanTuples}`);
                const plans = `${await planIndexes(c, sql, big)} / ${await planIndexes(c, sql, small)}`;
                // A sequential scan reads the whole table per query, whatever the settings: 20 probes tell its cost.
                const timed = plans === "seq scan / seq scan" ? probes.slice(0, 20) : probes;
                const times: number[] = [];
                let full = 0;
                let returned = 0;
                let hits = 0;
                for (const [i, p] of timed.entries()) {
                    const t = performance.now();
                    const got = (await c.query(sql, [p.vector, p.org, p.model])).rows.map((r) => Number(r.id));
                    times.push(performance.now() - t);
                    full += exact[i].length === 5 && got.length === 5 ? 1 : 0;
                    returned += got.length;
                    hits += got.filter((id) => exact[i].includes(id)).length;
                }
                times.sort((a, b) => a - b);
                const total = exact.slice(0, timed.length).reduce((n, e) => n + e.length, 0);
                const fives = exact.slice(0, timed.length).filter((e) => e.length === 5).length;
                const isDefault = k.iterative === defaults.iterative && k.ef === defaults.ef && k.maxScanTuples === defaults.maxScanTuples;
                console.log(
                    `${strategy.name.padEnd(30)} ${k.iterative.padEnd(14)} ${String(k.ef).padStart(4)} ${String(k.maxScanTuples).padStart(10)}  ` +
                        `${`${full}/${fives}`.padStart(9)} ${`${returned}/${total}`.padStart(11)} ${(hits / total).toFixed(3).padStart(8)} ` +
                        `${percentile(times, 50).toFixed(2).padStart(7)} ${percentile(times, 99).toFixed(2).padStart(7)}  ${plans}${timed.length < probes.length ? ` (${timed.length} probes)` : ""}${isDefault ? " ← rendered" : ""}`,
                );
            }
            await c.query("ROLLBACK");
        }
    } finally {
        await c.end();
        server.stop();
    }
}
