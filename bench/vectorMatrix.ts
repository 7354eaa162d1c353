/**
 * The matrix section of `npm run bench:vector` (issue 25): HIP-29's filtered semantic-cache query, verbatim, on
 * one table of `rows` clustered `halfvec(dims)` cache entries, at each filter selectivity
 * (test/harness/local/filteredWorkload.ts), for each indexing strategy and query setting: recall@5 against the
 * exact answer, rows returned against the exact answer (the full LIMIT when it has 5), p50/p99, and the ratio
 * to an exact scan of the same filter in the same run.
 */
import * as fs from "fs";
import * as os from "os";
import { performance } from "perf_hooks";
import { hbaRules } from "../policies/standard/pgHba";
import { renderPgHba } from "../render/pgHba";
import { renderPostgresqlConf } from "../render/postgresqlConf";
import { formatBytes } from "../policies/standard/quantity";
import { serverSettings, unquote } from "../policies/standard/settings";
import { semanticCacheQuery } from "../test/harness/local/semanticCache";
import {
    FILTER_INDEX,
    HNSW_INDEX,
    USERS,
    indexStatements,
    loadWorkload,
    planPath,
    probeParams,
    recallOf,
    selectivitySchema,
    tenantUsers,
} from "../test/harness/local/filteredWorkload";
import { PgServer } from "../test/harness/pg/server";
import { SPILL, percentile } from "./semanticCache";

/** One query setting: `hnsw.iterative_scan/hnsw.ef_search/hnsw.max_scan_tuples[/hnsw.scan_mem_multiplier]`. */
export interface QuerySetting {
    readonly iterative: string;
    readonly ef: number;
    readonly maxScanTuples: number;
    /** hnsw.scan_mem_multiplier: an iterative scan also stops when it holds more than work_mem × this (pgvector's default 1). */
    readonly memMultiplier: number;
}

export interface MatrixOptions {
    readonly memoryLimitBytes: number;
    readonly rows: number;
    readonly dims: number;
    /** Percent of the rows the filter keeps, each a multiple of 0.1. */
    readonly selectivities: readonly number[];
    readonly probes: number;
    /** Settings tried besides the rendered ones. */
    readonly settings: readonly QuerySetting[];
    readonly topics: number;
    /** Wait for this file to exist before measuring (the data is loaded and indexed first). */
    readonly waitFor?: string;
    /** Measurement rounds with --wait-for (each waits for the file again). */
    readonly rounds: number;
    /** HNSW build parameters. */
    readonly m: number;
    readonly efConstruction: number;
}

/** Parses `strict_order/100/20000[/2]` settings (comma-separated). */
export function parseSettings(text: string): QuerySetting[] {
    return text.split(",").map((s) => {
        const [iterative, ef, maxScanTuples, multiplier, ...rest] = s.trim().split("/");
        if (
            !["off", "relaxed_order", "strict_order"].includes(iterative) ||
            !/^\d+$/.test(ef ?? "") ||
            !/^\d+$/.test(maxScanTuples ?? "") ||
            !/^(\d+)?$/.test(multiplier ?? "") ||
            rest.length > 0
        ) {
            throw new Error(
                `a setting is iterative_scan/ef_search/max_scan_tuples[/scan_mem_multiplier] (strict_order/100/20000 or strict_order/100/20000/4), not "${s}"`,
            );
        }
        return { iterative, ef: Number(ef), maxScanTuples: Number(maxScanTuples), memMultiplier: Number(multiplier || 1) };
    });
}

interface Strategy {
    readonly name: string;
    /** Indexes dropped for this strategy (in a transaction rolled back after). */
    readonly drop: readonly string[];
    readonly session?: string;
    readonly query?: string;
}

const STRATEGIES: readonly Strategy[] = [
    { name: "HNSW + B-tree (planner)", drop: [] },
    { name: "HNSW only (planner)", drop: [FILTER_INDEX] },
    { name: "HNSW forced", drop: [FILTER_INDEX], session: "enable_seqscan = off" },
    { name: "HNSW + B-tree, CTE", drop: [], query: "cte" },
];

function loadLine(): string {
    const [one, five] = os.loadavg();
    return `load average ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) at ${new Date().toISOString().slice(11, 19)} UTC`;
}

export async function matrixBench(opts: MatrixOptions): Promise<void> {
    const selectivities = opts.selectivities.map((s) => ({ s, users: tenantUsers(s) })); // fails before any server starts
    const settings = serverSettings(opts.memoryLimitBytes);
    const value = (name: string) => unquote(settings.find((s) => s.name === name)?.value ?? "");
    const rendered: QuerySetting = {
        iterative: value("hnsw.iterative_scan"),
        ef: Number(value("hnsw.ef_search")),
        maxScanTuples: Number(value("hnsw.max_scan_tuples")),
        memMultiplier: Number(value("hnsw.scan_mem_multiplier") || 1),
    };
    const key = (k: QuerySetting) => `${k.iterative}/${k.ef}/${k.maxScanTuples}/${k.memMultiplier}`;
    const candidates = [rendered, ...opts.settings.filter((k) => key(k) !== key(rendered))];
    console.log(
        `\nmatrix: ${opts.rows} × halfvec(${opts.dims}) entries, ${opts.topics} topics (clustered), ${USERS} users, HNSW m=${opts.m} ef_construction=${opts.efConstruction}, ` +
            `pod memory ${formatBytes(opts.memoryLimitBytes)}: maintenance_work_mem ${value("maintenance_work_mem")}, max_parallel_maintenance_workers ${value("max_parallel_maintenance_workers")}`,
    );
    const server = await PgServer.start({
        postgresqlConf: renderPostgresqlConf(opts.memoryLimitBytes, settings),
        pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])),
    });
    const c = await server.admin();
    // Interrupted (e.g. a measurement window given up): stop the server and remove its files all the same.
    const onSignal = () => {
        server.stop();
        process.exit(130);
    };
    process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
    try {
        await c.query("CREATE EXTENSION vector");
        let t0 = performance.now();
        const probes = await loadWorkload(c, { ...opts, selectivities: opts.selectivities });
        console.log(`load ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        // The indexes a service creates: HNSW on the embedding, a B-tree on the filter columns.
        // Vectors this size are TOASTed: without parallel_workers the planner gives the build no workers.
        await c.query(`ALTER TABLE llm_cache SET (parallel_workers = ${Number(value("max_parallel_maintenance_workers")) || 1})`);
        const ddl = indexStatements(opts);
        const notices: string[] = [];
        c.on("notice", (n: { message?: string }) => notices.push(n.message ?? ""));
        t0 = performance.now();
        await c.query(ddl.hnsw);
        const build = (performance.now() - t0) / 1000;
        const spill = notices.find((n) => n.includes(SPILL));
        const size = (name: string) =>
            c.query("SELECT pg_relation_size($1::regclass)::bigint AS b", [name]).then((r) => Number(r.rows[0].b));
        console.log(
            `HNSW build ${build.toFixed(1)} s, ${formatBytes(await size(HNSW_INDEX))}, ${spill ? `NOTICE: ${spill}` : "graph fit in maintenance_work_mem"} (${loadLine()})`,
        );
        t0 = performance.now();
        await c.query(ddl.filter);
        console.log(`B-tree build ${((performance.now() - t0) / 1000).toFixed(1)} s, ${formatBytes(await size(FILTER_INDEX))}`);
        await c.query("ANALYZE");
        await c.query("CHECKPOINT");

        // Rounds: each waits for the --wait-for file, whose lines may narrow or change what the round measures
        // (settings=…, strategies=name prefix|…, selectivities=…), then removes it.
        for (let r = 1; r <= (opts.waitFor ? opts.rounds : 1); r++) {
            let round = { candidates, strategies: STRATEGIES, selectivities };
            if (opts.waitFor) {
                console.log(`ready for round ${r}; waiting for ${opts.waitFor} (${loadLine()})`);
                while (!fs.existsSync(opts.waitFor)) {
                    await new Promise((res) => setTimeout(res, 2000));
                }
                const lines = Object.fromEntries(
                    fs
                        .readFileSync(opts.waitFor, "utf8")
                        .split("\n")
                        .filter((l) => l.includes("="))
                        .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]),
                );
                round = {
                    candidates: lines.settings ? parseSettings(lines.settings) : candidates,
                    strategies: lines.strategies
                        ? STRATEGIES.filter((x) => lines.strategies.split("|").some((w: string) => x.name.startsWith(w)))
                        : STRATEGIES,
                    selectivities: lines.selectivities
                        ? selectivities.filter((x) => lines.selectivities.split(",").map(Number).includes(x.s))
                        : selectivities,
                };
            }
            console.log(`measuring: ${loadLine()}`);
            const hip = semanticCacheQuery({ type: "halfvec" });
            const cte = semanticCacheQuery({ type: "halfvec", thresholdAfterLimit: true });
            const header =
                `${"selectivity".padEnd(11)} ${"strategy".padEnd(24)} ${"setting".padEnd(36)} ${"plan".padEnd(13)} ${"5 of 5".padStart(7)} ` +
                `${"rows/exact".padStart(10)} ${"recall@5".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"×exact p50".padStart(10)} ${"×exact p99".padStart(10)}`;
            console.log(header);
            for (const { s } of round.selectivities) {
                // The window is over when the file is gone before the round removed it: stop measuring.
                if (opts.waitFor && !fs.existsSync(opts.waitFor)) {
                    console.log(`round cut before ${s}%: ${opts.waitFor} was removed (${loadLine()})`);
                    break;
                }
                console.log(`${s}%: ${loadLine()}`);
                await c.query(`SET search_path = ${selectivitySchema(s)}, public`);
                const ps = probes.get(s)!;
                const params = probeParams;
                const run = async (sql: string) => {
                    const times: number[] = [];
                    const ids: number[][] = [];
                    for (const p of ps) {
                        const t = performance.now();
                        const r = await c.query(sql, params(p));
                        times.push(performance.now() - t);
                        ids.push(r.rows.map((x) => Number(x.id)));
                    }
                    return { times: times.sort((a, b) => a - b), ids };
                };
                // The exact answer and the exact scan's latency: the same query with no HNSW index (the planner then
                // takes the B-tree or a sequential scan, both exact).
                await c.query("BEGIN");
                await c.query(`DROP INDEX ${HNSW_INDEX}`);
                const exactPlan = await planPath(c, hip, params(ps[0]));
                for (const p of ps.slice(0, 10)) {
                    await c.query(hip, params(p)); // warm
                }
                const exact = await run(hip);
                await c.query("ROLLBACK");
                const fives = exact.ids.filter((e) => e.length === 5).length;
                const exactRows = exact.ids.reduce((n, e) => n + e.length, 0);
                const ex50 = percentile(exact.times, 50);
                const ex99 = percentile(exact.times, 99);
                const row = (strategy: string, setting: string, plan: string, got: { times: number[]; ids: number[][] }) => {
                    let full = 0;
                    let returned = 0;
                    got.ids.forEach((g, i) => {
                        full += exact.ids[i].length === 5 && g.length === 5 ? 1 : 0;
                        returned += g.length;
                    });
                    const p50 = percentile(got.times, 50);
                    const p99 = percentile(got.times, 99);
                    console.log(
                        `${`${s}%`.padEnd(11)} ${strategy.padEnd(24)} ${setting.padEnd(36)} ${plan.padEnd(13)} ${`${full}/${fives}`.padStart(7)} ` +
                            `${`${returned}/${exactRows}`.padStart(10)} ${recallOf(got.ids, exact.ids).toFixed(3).padStart(8)} ${p50.toFixed(2).padStart(8)} ${p99.toFixed(2).padStart(8)} ` +
                            `${(p50 / ex50).toFixed(2).padStart(10)} ${(p99 / ex99).toFixed(2).padStart(10)}`,
                    );
                };
                row("exact (no HNSW)", "-", exactPlan, exact);
                for (const strategy of round.strategies) {
                    const sql = strategy.query === "cte" ? cte : hip;
                    await c.query("BEGIN");
                    for (const ix of strategy.drop) {
                        await c.query(`DROP INDEX ${ix}`);
                    }
                    if (strategy.session) {
                        await c.query(`SET LOCAL ${strategy.session}`);
                    }
                    for (const k of round.candidates) {
                        await c.query(`SET LOCAL hnsw.iterative_scan = ${k.iterative}`);
                        await c.query(`SET LOCAL hnsw.ef_search = ${k.ef}`);
                        await c.query(`SET LOCAL hnsw.max_scan_tuples = ${k.maxScanTuples}`);
                        await c.query(`SET LOCAL hnsw.scan_mem_multiplier = ${k.memMultiplier}`);
                        const plan = await planPath(c, sql, params(ps[0]));
                        const plan2 = await planPath(c, sql, params(ps[1]));
                        const got = await run(sql);
                        row(
                            strategy.name,
                            `${key(k)}${key(k) === key(rendered) ? " (rendered)" : ""}`,
                            plan === plan2 ? plan : `${plan}/${plan2}`,
                            got,
                        );
                    }
                    await c.query("ROLLBACK");
                }
            }
            console.log(`measured: ${loadLine()}`);
            if (opts.waitFor) {
                fs.rmSync(opts.waitFor, { force: true });
            }
        }
    } finally {
        process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
        await c.end();
        server.stop();
    }
}
