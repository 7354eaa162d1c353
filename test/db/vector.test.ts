import * as assert from "assert";
import { Client } from "pg";
import { VECTOR_SETTING_RULES, vectorSettings } from "../../policies/standard/settings";
import { semanticCacheQuery, semanticCacheSchema } from "../harness/local/semanticCache";
import {
    FILTER_INDEX,
    HNSW_INDEX,
    Probe,
    indexStatements,
    loadWorkload,
    planPath,
    probeParams,
    recallOf,
    selectivitySchema,
} from "../harness/local/filteredWorkload";
import { normalizeSetting, verify } from "../../cli/verify/checks";
import { StackServer, stackServer, tryConnect } from "../support/db";
import { hanzoK8sSpec } from "../support/hanzoK8s";

/** The hanzo-k8s stack, whose rendered files the servers below run with. */
const spec = hanzoK8sSpec();
const rendered = vectorSettings(spec.instance.vector);

/**
 * pgvector's query settings on a real server started with the hanzo-k8s stack's rendered postgresql.conf,
 * seen by a service role over TCP, and HIP-29's filtered semantic-cache query on a selective filter.
 */
describe("vector search settings on real PostgreSQL (hanzo-k8s files, service role cloud_user)", function () {
    this.timeout(120_000);
    let s: StackServer;
    let c: Client;

    before(async () => {
        s = await stackServer("hanzo-k8s");
        c = (await tryConnect(s.server.tcp("cloud_user", s.passwords.cloud_user, "cloud"))) as Client;
        assert.ok(c instanceof Client, JSON.stringify(c));
    });
    after(async () => {
        await c?.end();
        s?.server.stop();
    });

    it("reads the pgvector lines without error, as placeholders until the library loads", async () => {
        const admin = await s.server.admin();
        try {
            const lines = (
                await admin.query(
                    "SELECT name, setting, applied, error FROM pg_file_settings WHERE name ~ '^(hnsw|ivfflat)[.]' ORDER BY seqno",
                )
            ).rows;
            assert.deepStrictEqual(
                lines,
                rendered.map((r) => ({ name: r.name, setting: r.value, applied: true, error: null })),
            );
        } finally {
            await admin.end();
        }
        // A fresh session has not loaded pgvector: pg_settings does not list the placeholders, current_setting reads them.
        assert.deepStrictEqual((await c.query("SELECT count(*)::int AS n FROM pg_settings WHERE name ~ '^hnsw[.]'")).rows, [{ n: 0 }]);
        assert.strictEqual((await c.query("SELECT current_setting('hnsw.iterative_scan') AS v")).rows[0].v, "strict_order");
    });

    it("gives a service role's session the rendered values once pgvector is loaded, with pgvector's own ranges", async () => {
        await c.query("SELECT NULL::vector");
        const rows = (
            await c.query(
                "SELECT name, setting, unit, source, enumvals, min_val, max_val FROM pg_settings WHERE name = ANY($1) ORDER BY name",
                [rendered.map((r) => r.name)],
            )
        ).rows;
        assert.deepStrictEqual(
            rows.map((r) => [r.name, normalizeSetting(r.setting, r.unit), r.source]),
            [...rendered].sort((a, b) => a.name.localeCompare(b.name)).map((r) => [r.name, r.value, "configuration file"]),
        );
        assert.deepStrictEqual((await c.query("SHOW hnsw.iterative_scan")).rows, [{ "hnsw.iterative_scan": "strict_order" }]);
        // The loader's and the policy's rules are pgvector's: enum values and ranges as the library declares them.
        for (const rule of Object.values(VECTOR_SETTING_RULES)) {
            const row = rows.find((r) => r.name === rule.guc);
            assert.deepStrictEqual(
                rule.values ? row.enumvals : [Number(row.min_val), Number(row.max_val)],
                rule.values ?? [rule.min, rule.max],
                rule.guc,
            );
        }
    });

    it("replaces an invalid value (here a role setting, as from the file) by pgvector's default with only a WARNING: why the loader and the pack validate", async () => {
        const admin = await s.server.admin();
        try {
            await admin.query("ALTER ROLE cloud_user IN DATABASE cloud SET hnsw.ef_search = 5000");
            const d = (await tryConnect(s.server.tcp("cloud_user", s.passwords.cloud_user, "cloud"))) as Client;
            const warnings: string[] = [];
            d.on("notice", (n) => warnings.push(`${n.severity}: ${n.message}`));
            try {
                await d.query("SELECT NULL::vector");
                assert.deepStrictEqual((await d.query("SELECT setting, source FROM pg_settings WHERE name = 'hnsw.ef_search'")).rows, [
                    { setting: "40", source: "default" },
                ]);
                assert.deepStrictEqual(warnings, ['WARNING: 5000 is outside the valid range for parameter "hnsw.ef_search" (1 .. 1000)']);
            } finally {
                await d.end();
            }
        } finally {
            await admin.query("ALTER ROLE cloud_user IN DATABASE cloud RESET hnsw.ef_search");
            await admin.end();
        }
    });

    it("is checked by the live verifier: a server whose iterative scan was turned off fails", async () => {
        const vectorResults = async () =>
            (await verify(spec, s.server.adminUrl())).filter((r) => /^setting (hnsw|ivfflat)[.]/.test(r.object));
        assert.deepStrictEqual(
            await vectorResults(),
            rendered.map((r) => ({ object: `setting ${r.name}`, ok: true, detail: `= ${r.value}` })),
        );
        s.server.psql("ALTER SYSTEM SET hnsw.iterative_scan = 'off'; SELECT pg_reload_conf();");
        try {
            assert.deepStrictEqual(
                (await vectorResults()).filter((r) => !r.ok),
                [
                    {
                        object: "setting hnsw.iterative_scan",
                        ok: false,
                        detail: "is off; the stack renders strict_order",
                        fix: "restore the rendered postgresql.conf (pulumi up), remove ALTER SYSTEM overrides (ALTER SYSTEM RESET), then reload or restart",
                    },
                ],
            );
        } finally {
            s.server.psql("ALTER SYSTEM RESET hnsw.iterative_scan; SELECT pg_reload_conf();");
        }
    });

    it("returns the full LIMIT of HIP-29's filtered query on a selective filter (iterative scan off: fewer rows)", async () => {
        // 3,000 cache entries on one topic, all within 0.3 of the probe; 8 of them belong to org 1, model gpt-4o.
        // The HNSW index alone returns ef_search (40) candidates, nearly none of them org 1's.
        await c.query(semanticCacheSchema(1536));
        await c.query("INSERT INTO users SELECT i, CASE WHEN i = 1 THEN 1 ELSE 2 + i % 50 END FROM generate_series(1, 200) i");
        await c.query("SELECT setseed(0.16)");
        await c.query("CREATE TEMP TABLE centre AS SELECT array_agg(random() - 0.5) AS v FROM generate_series(1, 1536)");
        await c.query(
            `INSERT INTO llm_cache
             SELECT i, CASE WHEN i % 375 = 0 THEN 1 ELSE 2 + i % 199 END, CASE WHEN i % 375 = 0 OR i % 2 = 0 THEN 'gpt-4o' ELSE 'claude-3-5-sonnet' END, 'response ' || i,
                    (SELECT array_agg(x + (random() - 0.5) * 0.4)::vector(1536) FROM unnest((SELECT v FROM centre)) x WHERE i > 0)
               FROM generate_series(1, 3000) i`,
        );
        await c.query(
            "CREATE INDEX llm_cache_hnsw ON llm_cache USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
        );
        await c.query("ANALYZE users, llm_cache");
        const probe = (await c.query("SELECT v::vector(1536)::text AS v FROM centre")).rows[0].v;
        const params = [probe, 1, "gpt-4o"];
        const query = semanticCacheQuery();
        const ids = async () => (await c.query(query, params)).rows.map((r) => Number(r.id));

        // The exact answer: the same query without the approximate index.
        await c.query("BEGIN");
        await c.query("DROP INDEX llm_cache_hnsw");
        const exact = await ids();
        await c.query("ROLLBACK");
        assert.strictEqual(exact.length, 5);
        assert.strictEqual(
            (
                await c.query(
                    "SELECT count(*)::int AS n FROM llm_cache c JOIN users u ON u.id = c.user_id WHERE u.org_id = 1 AND c.model = 'gpt-4o'",
                )
            ).rows[0].n,
            8,
        );

        // The HNSW index, as on a big table (this one is small enough for the planner to prefer a sequential scan).
        await c.query("SET enable_seqscan = off");
        assert.match(JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) ${query}`, params)).rows), /"Index Name":"llm_cache_hnsw"/);
        assert.deepStrictEqual(await ids(), exact, "rendered hnsw.iterative_scan = strict_order: the exact 5 rows, in order");
        await c.query("SET hnsw.iterative_scan = off");
        const without = await ids();
        assert.ok(without.length < 5, `iterative scan off returns ${without.length} rows`);
        await c.query("RESET hnsw.iterative_scan");
        await c.query("RESET enable_seqscan");
    });
});

/**
 * HIP-29's filtered query, verbatim, at several filter selectivities (test/harness/local/filteredWorkload.ts:
 * clustered halfvec entries, a fixed seed, the schema docs/vector-search.md asks a service to create), as the
 * service role cloud_user on a server with the hanzo-k8s stack's rendered files: every probe gets as many rows
 * as the exact answer (the full LIMIT when that has 5), recall@5 ≥ 0.95, and the planner takes the path the
 * docs say: the B-tree (exact) for a selective tenant, the HNSW index for a large one.
 */
describe("HIP-29's filtered vector query at several selectivities on real PostgreSQL (rendered defaults, service role)", function () {
    this.timeout(300_000);
    const SELECTIVITIES = [1, 5, 50, 100];
    let s: StackServer;
    let c: Client;
    let probes: Map<number, Probe[]>;
    const query = semanticCacheQuery({ type: "halfvec" });

    before(async () => {
        s = await stackServer("hanzo-k8s");
        c = (await tryConnect(s.server.tcp("cloud_user", s.passwords.cloud_user, "cloud"))) as Client;
        assert.ok(c instanceof Client, JSON.stringify(c));
        await c.query("CREATE SCHEMA filtered");
        await c.query("SET search_path = filtered, public");
        probes = await loadWorkload(c, { rows: 8000, dims: 64, topics: 10, selectivities: SELECTIVITIES, probes: 20 });
        const ddl = indexStatements({ m: 16, efConstruction: 64 });
        await c.query(ddl.hnsw);
        await c.query(ddl.filter);
        await c.query("ANALYZE");
    });
    after(async () => {
        await c?.end();
        s?.server.stop();
    });

    /** Ids each probe of selectivity `sel` gets; `exact`: with the HNSW index dropped (in a transaction rolled back). */
    async function answers(sel: number, opts: { exact?: boolean; forceHnsw?: boolean; sql?: string } = {}): Promise<number[][]> {
        await c.query("BEGIN");
        try {
            await c.query(`SET LOCAL search_path = ${selectivitySchema(sel)}, filtered, public`);
            if (opts.exact) {
                await c.query(`DROP INDEX filtered.${HNSW_INDEX}`);
            }
            if (opts.forceHnsw) {
                await c.query(`DROP INDEX filtered.${FILTER_INDEX}`);
                await c.query("SET LOCAL enable_seqscan = off");
            }
            const out: number[][] = [];
            for (const p of probes.get(sel)!) {
                out.push((await c.query(opts.sql ?? query, probeParams(p))).rows.map((r) => Number(r.id)));
            }
            return out;
        } finally {
            await c.query("ROLLBACK");
        }
    }

    it("runs with the rendered pgvector settings", async () => {
        await c.query("SELECT NULL::halfvec");
        assert.deepStrictEqual(
            (await c.query("SELECT name, setting FROM pg_settings WHERE name = ANY($1) ORDER BY name", [rendered.map((r) => r.name)])).rows,
            [...rendered].sort((a, b) => a.name.localeCompare(b.name)).map((r) => ({ name: r.name, setting: r.value })),
        );
    });

    it("plans the B-tree (exact) for a selective tenant and the HNSW index for a large one", async () => {
        const paths: Record<string, string[]> = {};
        // 5% is near the cost model's switch point (it moves with hnsw.ef_search): not asserted. On 8,000 rows
        // ef_search 200's startup cost (hnswcostestimate) makes a sequential scan (exact) cheaper at 50%.
        for (const sel of [1, 50, 100]) {
            await c.query(`SET search_path = ${selectivitySchema(sel)}, filtered, public`);
            const seen = new Set<string>();
            for (const p of probes.get(sel)!.slice(0, 4)) {
                seen.add(await planPath(c, query, probeParams(p)));
            }
            paths[sel] = [...seen];
        }
        await c.query("SET search_path = filtered, public");
        assert.deepStrictEqual(paths, { 1: ["btree"], 50: ["seq"], 100: ["hnsw"] });
    });

    for (const sel of SELECTIVITIES) {
        it(`returns the full answer with recall@5 ≥ 0.95 at ${sel}% selectivity, as planned and with the HNSW index forced`, async () => {
            const exact = await answers(sel, { exact: true });
            // The workload has full answers to lose: most hits have 5 rows within the threshold.
            assert.ok(exact.filter((e) => e.length === 5).length >= 5, JSON.stringify(exact.map((e) => e.length)));
            for (const got of [await answers(sel), await answers(sel, { forceHnsw: true })]) {
                assert.deepStrictEqual(
                    got.map((g) => g.length),
                    exact.map((e) => e.length),
                );
                assert.ok(recallOf(got, exact) >= 0.95, `recall@5 ${recallOf(got, exact)}`);
            }
        });
    }

    it("loses rows at 1% selectivity when the iterative scan is off (what the rendered setting prevents)", async () => {
        // ef_search 200 candidates hold ~2 of a 1% tenant's rows.
        const exact = await answers(1, { exact: true });
        await c.query("SET hnsw.iterative_scan = off");
        try {
            const got = await answers(1, { forceHnsw: true });
            assert.ok(
                got.reduce((n, g) => n + g.length, 0) < exact.reduce((n, e) => n + e.length, 0),
                "the HNSW scan alone returns fewer rows than the exact answer",
            );
        } finally {
            await c.query("RESET hnsw.iterative_scan");
        }
    });
});
