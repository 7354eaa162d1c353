/**
 * npm run bench:vector [-- --sections semantic,lookup,build --rows 100000 --queries 200 --ef-search 40,100
 *                          --max-scan-tuples 20000,5000 --orgs 300 --topics 500 --lookup-rows 50000
 *                          --strategies "one HNSW|tenant col"]   (strategy name prefixes, separated by |)
 *
 * semantic (bench/semanticCache.ts): HIP-29's filtered semantic-cache query on `--rows` embedding-shaped
 * 1536-d entries of Zipf-sized tenants, per indexing strategy and candidate setting: rows returned against
 * the exact answer, recall@5, p50/p99; each index's build time, size and whether it spilled.
 * build: an HNSW index (vector_cosine_ops, m=16, ef_construction=64) on `--lookup-rows` uniform random
 * 1536-d vectors built twice, on two throwaway servers: one with the postgresql.conf the program renders for
 * the standard's 2Gi pod, one with the seed's literal values (maintenance_work_mem 128MB); seconds, the
 * ratio, and whether the build spilled out of memory.
 * lookup: unfiltered lookups on embedding-shaped vectors: for each `--lookup-ef-search`, p50/p99 of LIMIT-5
 * queries and recall@10 against exact search.
 */
import { performance } from "perf_hooks";
import { Client } from "pg";
import { Command, Flag, Parsed, UsageError, integerFlag, integerListFlag, runCommand } from "../cli/cli";
import { hbaRules } from "../policies/standard/pgHba";
import { renderPgHba } from "../render/pgHba";
import { renderPostgresqlConf } from "../render/postgresqlConf";
import { formatBytes } from "../policies/standard/quantity";
import { SEED_SETTINGS, memorySettings, serverSettings, shmSizeBytes } from "../policies/standard/settings";
import { PgServer } from "../test/harness/pg/server";
import { prng } from "../test/harness/local/semanticCache";
import { SPILL, percentile, semanticCacheBench } from "./semanticCache";
import { matrixBench, parseSettings } from "./vectorMatrix";
import { parseQuantity } from "../policies/standard/quantity";

const GiB = 2 ** 30;
const POD_MEMORY = 2 * GiB;
const SECTIONS = ["matrix", "semantic", "lookup", "build"];

/** The bench's command line (`npm run bench:vector -- --help` prints it). */
export const COMMAND = {
    name: "npm run bench:vector --",
    summary:
        "HIP-29's filtered semantic-cache query per indexing strategy (semantic), an HNSW build with the rendered configuration against the seed's (build), " +
        "and unfiltered lookups per hnsw.ef_search (lookup), on throwaway servers; prints times, recall and ratios of one run.",
    flags: {
        sections: { type: "string", value: "<list>", description: `comma-separated sections to run (default ${SECTIONS.join(",")})` },
        rows: { type: "string", value: "<n>", description: "semantic, matrix: cache entries (default 100000)" },
        dims: { type: "string", value: "<n>", description: "matrix: dimensions of the halfvec column (default 1536)" },
        selectivities: {
            type: "string",
            value: "<list>",
            description: "matrix: percent of the rows the filter keeps, multiples of 0.1, comma-separated (default 0.1,1,10,50,100)",
        },
        settings: {
            type: "string",
            value: "<list>",
            description:
                "matrix: query settings tried besides the rendered ones, iterative_scan/ef_search/max_scan_tuples, comma-separated",
        },
        "pod-memory": {
            type: "string",
            value: "<quantity>",
            description: "matrix: the pod memory limit the server's settings follow (default 2Gi)",
        },
        "wait-for": {
            type: "string",
            value: "<file>",
            description:
                "matrix: load and index, then wait for this file before each round; its lines settings=, strategies=, selectivities= narrow the round; removed after it",
        },
        rounds: { type: "string", value: "<n>", description: "matrix: measurement rounds with --wait-for (default 1)" },
        queries: { type: "string", value: "<n>", description: "queries per setting (default 200)" },
        orgs: { type: "string", value: "<n>", description: "semantic: tenants (default 300)" },
        topics: { type: "string", value: "<n>", description: "semantic, matrix: topics (default 500)" },
        "ef-search": { type: "string", value: "<list>", description: "semantic: hnsw.ef_search values, comma-separated (default 40,100)" },
        "max-scan-tuples": {
            type: "string",
            value: "<list>",
            description: "semantic: hnsw.max_scan_tuples values, comma-separated (default none)",
        },
        strategies: {
            type: "string",
            value: "<names>",
            description: 'semantic: strategy name prefixes separated by | (e.g. "one HNSW|tenant col"; default all)',
        },
        "lookup-rows": { type: "string", value: "<n>", description: "lookup, build: vectors (default 50000)" },
        "lookup-ef-search": {
            type: "string",
            value: "<list>",
            description: "lookup: hnsw.ef_search values, comma-separated (default 20,40,100,200)",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

/** The seed's postgresql.conf: its 16 values literally, plus what any server here needs to run. */
function seedConf(): string {
    const keep = serverSettings(POD_MEMORY).filter((s) =>
        ["listen_addresses", "port", "password_encryption", "shared_preload_libraries"].includes(s.name),
    );
    const seed = Object.entries(SEED_SETTINGS).map(([name, value]) => ({
        name,
        value: /^[0-9.]+[a-zA-Z]*$|^(on|off|replica)$/.test(value) ? value : `'${value}'`,
        why: "the seed's literal value",
    }));
    return renderPostgresqlConf(POD_MEMORY, [...keep, ...seed]);
}

const DIM = 1536;
const LATENT = 32;

/**
 * Random vectors shaped like embeddings: a uniform random point of a 32-dimensional latent space, mapped
 * into 1536 dimensions by a fixed random basis, plus a little noise. (Uniform random 1536-d vectors have no
 * neighbourhoods at all: every point is almost equally far from every other, so recall is meaningless.)
 */
export class EmbeddingLike {
    private readonly basis: Float64Array;
    private readonly random: () => number;
    constructor(seed: number, basisSeed = 7) {
        const r = prng(basisSeed);
        this.basis = Float64Array.from({ length: DIM * LATENT }, () => r() - 0.5);
        this.random = prng(seed);
    }
    next(): string {
        const z = Array.from({ length: LATENT }, () => this.random() - 0.5);
        const out = new Array<string>(DIM);
        for (let j = 0; j < DIM; j++) {
            let x = 0;
            for (let k = 0; k < LATENT; k++) {
                x += this.basis[j * LATENT + k] * z[k];
            }
            out[j] = (x + (this.random() - 0.5) * 0.05).toFixed(5);
        }
        return `[${out.join(",")}]`;
    }
}

/**
 * Loads `rows` vectors into `table`: `uniform` (seeded random() in SQL, identical on both servers), or
 * `embedding` (EmbeddingLike, generated here).
 */
async function load(c: Client, table: string, rows: number, kind: "uniform" | "embedding"): Promise<void> {
    await c.query("CREATE EXTENSION IF NOT EXISTS vector");
    await c.query(`CREATE TABLE ${table} (id int PRIMARY KEY, embedding vector(1536) NOT NULL)`);
    await c.query(`ALTER TABLE ${table} SET (parallel_workers = 2)`);
    if (kind === "uniform") {
        await c.query("SELECT setseed(0.42)");
        for (let start = 1; start <= rows; start += 5000) {
            await c.query(
                `INSERT INTO ${table} SELECT i, (SELECT array_agg(random() - 0.5)::vector(1536) FROM generate_series(1, 1536) WHERE i > 0)
                   FROM generate_series($1::int, $2::int) i`,
                [start, Math.min(rows, start + 4999)],
            );
        }
    } else {
        const gen = new EmbeddingLike(42);
        for (let start = 1; start <= rows; start += 250) {
            const ids: number[] = [];
            const vectors: string[] = [];
            for (let i = start; i < Math.min(rows + 1, start + 250); i++) {
                ids.push(i);
                vectors.push(gen.next());
            }
            await c.query(`INSERT INTO ${table} SELECT * FROM unnest($1::int[], $2::vector[])`, [ids, vectors]);
        }
    }
    await c.query(`VACUUM ANALYZE ${table}`);
}

/** Builds the HNSW index on `table`; seconds, and whether the graph spilled out of maintenance_work_mem. */
async function buildIndex(c: Client, table: string): Promise<{ seconds: number; spilled: boolean }> {
    const notices: string[] = [];
    const listener = (n: { message?: string }) => notices.push(n.message ?? "");
    c.on("notice", listener);
    const t0 = performance.now();
    await c.query(`CREATE INDEX ${table}_hnsw ON ${table} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`);
    c.off("notice", listener);
    return { seconds: (performance.now() - t0) / 1000, spilled: notices.some((n) => n.includes(SPILL)) };
}

async function build(
    label: string,
    conf: string,
    rows: number,
): Promise<{ seconds: number; spilled: boolean; server: PgServer; client: Client }> {
    const server = await PgServer.start({ postgresqlConf: conf, pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])) });
    const client = await server.admin();
    const t0 = performance.now();
    await load(client, "items", rows, "uniform");
    const loadSeconds = (performance.now() - t0) / 1000;
    const mwm = (await client.query("SHOW maintenance_work_mem")).rows[0].maintenance_work_mem;
    const { seconds, spilled } = await buildIndex(client, "items");
    console.log(
        `${label.padEnd(28)} maintenance_work_mem ${mwm.padStart(6)}  load ${loadSeconds.toFixed(1)} s  build ${seconds.toFixed(1)} s  ${spilled ? `NOTICE: ${SPILL}` : "graph fit in memory"}`,
    );
    return { seconds, spilled, server, client };
}

/** Query vectors: fresh draws from the data's distribution (not stored), or stored vectors plus noise. */
async function probesOf(c: Client, kind: "fresh" | "near", count: number, rows: number): Promise<string[]> {
    if (kind === "fresh") {
        const gen = new EmbeddingLike(4242);
        return Array.from({ length: count }, () => gen.next());
    }
    await c.query("SELECT setseed(0.1)");
    return (
        await c.query(
            `SELECT (SELECT array_agg(x + (random() - 0.5) * 0.05)::vector(1536)::text FROM unnest(i.embedding::real[]) x) AS v
           FROM generate_series(1, $1::int) q JOIN embeddings i ON i.id = 1 + ((q * 7919) % ${rows})`,
            [count],
        )
    ).rows.map((r) => r.v);
}

async function queries(c: Client, kind: "fresh" | "near", count: number, rows: number, efSearches: number[]): Promise<void> {
    const probes = await probesOf(c, kind, count, rows);
    // Exact top 10 of each probe (sequential scan), once.
    await c.query("SET enable_indexscan = off");
    const exact: Set<number>[] = [];
    for (const v of probes) {
        exact.push(
            new Set((await c.query("SELECT id FROM embeddings ORDER BY embedding <=> $1::vector LIMIT 10", [v])).rows.map((r) => r.id)),
        );
    }
    await c.query("SET enable_indexscan = on");
    // Steady state, as a serving cache sees it: the build's WAL checkpointed, the index read once untimed.
    await c.query("CHECKPOINT");
    await c.query(`SET hnsw.ef_search = ${Math.max(...efSearches)}`);
    for (const v of probes) {
        await c.query("SELECT id FROM embeddings ORDER BY embedding <=> $1::vector LIMIT 10", [v]);
    }
    const plan = JSON.stringify(
        (await c.query("EXPLAIN (FORMAT JSON) SELECT id FROM embeddings ORDER BY embedding <=> $1::vector LIMIT 5", [probes[0]])).rows,
    );
    console.log(
        `queries, ${kind} probes (${count}): LIMIT 5 timed, recall@10 against exact search; ${plan.includes("embeddings_hnsw") ? "index scan" : "NOT the index"}`,
    );
    for (const ef of efSearches) {
        await c.query(`SET hnsw.ef_search = ${ef}`);
        const times: number[] = [];
        let hits = 0;
        for (const [i, v] of probes.entries()) {
            const t0 = performance.now();
            await c.query("SELECT id FROM embeddings ORDER BY embedding <=> $1::vector LIMIT 5", [v]);
            times.push(performance.now() - t0);
            const approx = (await c.query("SELECT id FROM embeddings ORDER BY embedding <=> $1::vector LIMIT 10", [v])).rows.map(
                (r) => r.id as number,
            );
            hits += approx.filter((id) => exact[i].has(id)).length;
        }
        times.sort((a, b) => a - b);
        console.log(
            `  hnsw.ef_search=${String(ef).padEnd(4)} p50 ${percentile(times, 50).toFixed(2)} ms  p99 ${percentile(times, 99).toFixed(2)} ms  recall@10 ${(hits / (count * 10)).toFixed(3)}`,
        );
    }
}

/** The unfiltered sections: the build comparison (seed vs rendered) and lookups without a filter. */
async function lookups(rows: number, count: number, efSearches: number[], buildComparison: boolean): Promise<void> {
    const derived = memorySettings(POD_MEMORY);
    console.log(
        `\npod memory ${formatBytes(POD_MEMORY)}: rendered shared_buffers ${formatBytes(derived.shared_buffers)} + maintenance_work_mem ${formatBytes(derived.maintenance_work_mem)} ` +
            `= ${formatBytes(derived.shared_buffers + derived.maintenance_work_mem)} of the limit; /dev/shm ${formatBytes(shmSizeBytes(POD_MEMORY))} holds a parallel build's ${formatBytes(derived.maintenance_work_mem)}`,
    );
    console.log(`${rows} × 1536-d uniform random vectors, HNSW m=16 ef_construction=64, vector_cosine_ops`);
    let rendered: { server: PgServer; client: Client };
    if (!buildComparison) {
        const server = await PgServer.start({
            postgresqlConf: renderPostgresqlConf(POD_MEMORY),
            pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])),
        });
        rendered = { server, client: await server.admin() };
        await rendered.client.query("CREATE TABLE items (id int)");
    } else {
        const seed = await build("seed's literal values", seedConf(), rows);
        // The seed's server is gone before the rendered one builds: the two never share the 2 cores.
        await seed.client.end();
        seed.server.stop();
        const built = await build("rendered configuration", renderPostgresqlConf(POD_MEMORY), rows);
        console.log(`build speed-up, rendered vs seed: ${(seed.seconds / built.seconds).toFixed(2)}×`);
        rendered = built;
    }
    try {
        // Queries on vectors shaped like embeddings: on uniform random vectors every point is about as far
        // as every other, so "the 10 nearest" are arbitrary and recall measures noise.
        await rendered.client.query("DROP TABLE items");
        await load(rendered.client, "embeddings", rows, "embedding");
        const e = await buildIndex(rendered.client, "embeddings");
        console.log(
            `embedding-like vectors (32-d latent), rendered configuration: build ${e.seconds.toFixed(1)} s  ${e.spilled ? `NOTICE: ${SPILL}` : "graph fit in memory"}`,
        );
        // Unfiltered lookups, with the rendered iterative scan off so the numbers are the index's own.
        await rendered.client.query("SET hnsw.iterative_scan = off");
        await queries(rendered.client, "fresh", count, rows, efSearches);
        await queries(rendered.client, "near", count, rows, efSearches);
    } finally {
        await rendered.client.end();
        rendered.server.stop();
    }
}

async function bench(values: Parsed<typeof COMMAND.flags>["values"]): Promise<void> {
    const sections = values.sections?.split(",") ?? SECTIONS;
    const unknown = sections.filter((x) => !SECTIONS.includes(x));
    if (unknown.length > 0) {
        throw new UsageError(`--sections takes ${SECTIONS.join(", ")}, not ${unknown.join(", ")}`);
    }
    const arg = (name: "rows" | "queries" | "orgs" | "topics" | "lookup-rows" | "dims" | "rounds", fallback: number) =>
        integerFlag(name, values[name], fallback);
    const list = (name: "ef-search" | "max-scan-tuples" | "lookup-ef-search", fallback: number[]) =>
        integerListFlag(name, values[name], fallback);
    // Every value is read before the first section runs: a bad one fails at once, not an hour in.
    const count = arg("queries", 200);
    const semantic = {
        memoryLimitBytes: POD_MEMORY,
        rows: arg("rows", 100_000),
        queries: count,
        orgs: arg("orgs", 300),
        topics: arg("topics", 500),
        efSearches: list("ef-search", [40, 100]),
        maxScanTuples: list("max-scan-tuples", []),
        strategies: values.strategies?.split("|"),
    };
    const podMemory = values["pod-memory"] === undefined ? POD_MEMORY : parseQuantity(values["pod-memory"]);
    if (podMemory === undefined) {
        throw new UsageError(`--pod-memory takes a quantity (2Gi, 8Gi), not "${values["pod-memory"]}"`);
    }
    const selectivities = (values.selectivities ?? "0.1,1,10,50,100").split(",").map(Number);
    if (selectivities.some((x) => !(x > 0 && x <= 100))) {
        throw new UsageError(`--selectivities takes percents above 0 and at most 100, not "${values.selectivities}"`);
    }
    let settings;
    try {
        settings = values.settings === undefined ? [] : parseSettings(values.settings);
    } catch (e) {
        throw new UsageError(`--settings: ${(e as Error).message}`);
    }
    const matrix = {
        memoryLimitBytes: podMemory,
        rows: semantic.rows,
        dims: arg("dims", 1536),
        selectivities,
        probes: count,
        settings,
        topics: semantic.topics,
        waitFor: values["wait-for"],
        rounds: arg("rounds", 1),
        m: 16,
        efConstruction: 64,
    };
    const lookupRows = arg("lookup-rows", 50_000);
    const lookupEfSearches = list("lookup-ef-search", [20, 40, 100, 200]);
    if (sections.includes("matrix")) {
        await matrixBench(matrix);
    }
    if (sections.includes("semantic")) {
        await semanticCacheBench(semantic);
    }
    if (sections.includes("lookup") || sections.includes("build")) {
        await lookups(lookupRows, count, lookupEfSearches, sections.includes("build"));
    }
}

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:vector failed", code: 1, trace: true }, ({ values }) => bench(values));
}
