/**
 * npm run bench:pool [-- --seconds 15]
 *
 * pgbench -S (read-only, simple protocol) against a throwaway server built from a pooled stack: 100 clients
 * direct, 100 clients through the rendered PgBouncer (transaction pooling, default_pool_size 20), and 1000
 * clients through it (max_client_conn raised to 1100 in this bench stack; at least 30 s, since connecting
 * them takes seconds). Prints tps, failed transactions, and the pooled/direct ratio at 100 clients, all
 * from one run.
 */
import { spawnSync } from "child_process";
import { startStackServer } from "../tools/local/stackServer";
import { PgbouncerServer } from "../tools/pg/pgbouncer";
import { PG_BIN } from "../tools/pg/server";
import { planFromValues } from "../tools/plan";
import { renderUserlist } from "../render/pgbouncer";

const seconds = (() => {
    const i = process.argv.indexOf("--seconds");
    return i >= 0 ? Number(process.argv[i + 1]) : 15;
})();

interface Run {
    tps: number;
    failed: number;
    clients: number;
}

function pgbench(args: string[], env: Record<string, string>): string {
    const r = spawnSync(`${PG_BIN}/pgbench`, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    if (r.status !== 0) {
        throw new Error(`pgbench ${args.join(" ")} failed: ${r.stderr}`);
    }
    return r.stdout;
}

function run(label: string, port: number, clients: number, env: Record<string, string>): Run {
    // Connecting a thousand SCRAM clients on two cores takes seconds, and pgbench counts it in -T.
    const duration = clients >= 1000 ? Math.max(seconds, 30) : seconds;
    const out = pgbench(["-h", "127.0.0.1", "-p", String(port), "-U", "bench_user", "-S", "-n", "-c", String(clients), "-j", "2", "-T", String(duration), "bench"], env);
    const tps = Number(/tps = ([0-9.]+) \(without initial connection time\)/.exec(out)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    if (process.env.BENCH_DEBUG) {
        console.log(out);
    }
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
    const connecting = Number(/initial connection time = ([0-9.]+) ms/.exec(out)?.[1] ?? 0) / 1000;
    console.log(`${label.padEnd(22)} ${String(clients).padStart(5)} clients  ${tps.toFixed(0).padStart(7)} tps  ${processed} transactions, ${failed} failed  (connecting took ${connecting.toFixed(1)} s)`);
    return { tps, failed, clients };
}

async function bench(): Promise<void> {
    const plan = await planFromValues("bench-pool", {
        environment: "prod", clusterName: "bench", backupEnabled: false, monitoringEnabled: false,
        poolingEnabled: true, poolMaxClientConn: 1100, services: [{ name: "bench", pooled: true }],
    });
    const s = await startStackServer(plan);
    const ini = (plan.plan.resources.find((r) => r.name === "hanzo-sql-pgbouncer-config")!.inputs as { data: Record<string, string> }).data["pgbouncer.ini"];
    const pooler = await PgbouncerServer.start(ini, renderUserlist([{ user: "bench_user", password: s.passwords.bench_user }]), s.server.port);
    const env = { PGPASSWORD: s.passwords.bench_user };
    try {
        pgbench(["-h", "127.0.0.1", "-p", String(s.server.port), "-U", "bench_user", "-i", "-s", "10", "-q", "bench"], env);
        console.log(`pgbench -S, ${seconds} s each; pgbouncer pool_mode=transaction default_pool_size=20 max_client_conn=1100`);
        const direct = run("direct to PostgreSQL", s.server.port, 100, env);
        const pooled = run("through PgBouncer", pooler.port, 100, env);
        const many = run("through PgBouncer", pooler.port, 1000, env);
        console.log(`pooled/direct throughput at 100 clients: ${(pooled.tps / direct.tps).toFixed(2)}; failed: ${direct.failed + pooled.failed + many.failed}`);
    } finally {
        pooler.stop();
        s.server.stop();
    }
}

bench().catch((e) => {
    console.error(e);
    process.exitCode = 1;
});
