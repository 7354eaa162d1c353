/**
 * npm run bench:pool [-- --seconds 15]
 *
 * pgbench -S (read-only) against a throwaway server built from a pooled stack, through the rendered
 * PgBouncer (transaction pooling, default_pool_size 20, max_prepared_statements): 100 clients direct and
 * through the pooler, with the simple protocol and with `-M prepared` (named prepared statements, which
 * PgBouncer >= 1.21 keeps across server connections), then 1000 clients through the pooler with `-M prepared`
 * (max_client_conn raised to 1100 in this bench stack; 45 s longer, since pgbench counts connecting them in -T).
 * Prints, per run, throughput without connection time, the time connecting took (separately), and failed
 * transactions; then the pooled/direct ratios at 100 clients (target >= 0.9 with -M prepared), all from one run.
 */
import { spawnSync } from "child_process";
import { Command, Flag, integerFlag, runCommand } from "../cli/cli";
import { startStackServer } from "../test/harness/local/stackServer";
import { PGBOUNCER_BIN, PgbouncerServer, serverUserlist } from "../test/harness/pg/pgbouncer";
import { PG_BIN } from "../test/harness/pg/server";
import { planFromValues } from "../cli/plan";
import { PGBOUNCER_MAX_PREPARED_STATEMENTS } from "../render/pgbouncer";

/** The bench's command line (`npm run bench:pool -- --help` prints it). */
export const COMMAND = {
    name: "npm run bench:pool --",
    summary:
        "pgbench -S against a throwaway server built from a pooled stack, direct and through the rendered PgBouncer, " +
        "simple and -M prepared, then 1000 clients through the pooler; prints throughput, connect time, failed transactions and the ratios of one run.",
    flags: {
        seconds: { type: "string", value: "<s>", description: "seconds per pgbench run (default 15; the 1000-client run takes 45 more)" },
    },
} as const satisfies Command<Record<string, Flag>>;

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

function run(label: string, mode: "simple" | "prepared", port: number, clients: number, seconds: number, env: Record<string, string>): Run {
    // Connecting a thousand SCRAM clients on two cores takes seconds, and pgbench counts it in -T.
    const duration = clients >= 1000 ? seconds + 45 : seconds;
    const out = pgbench(
        [
            "-h",
            "127.0.0.1",
            "-p",
            String(port),
            "-U",
            "bench_user",
            "-S",
            "-n",
            "-M",
            mode,
            "-c",
            String(clients),
            "-j",
            "2",
            "-T",
            String(duration),
            "bench",
        ],
        env,
    );
    const tps = Number(/tps = ([0-9.]+) \(without initial connection time\)/.exec(out)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    if (process.env.BENCH_DEBUG || Number.isNaN(tps)) {
        console.log(out);
    }
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
    const connecting = Number(/initial connection time = ([0-9.]+) ms/.exec(out)?.[1] ?? 0) / 1000;
    console.log(
        `${label.padEnd(20)} -M ${mode.padEnd(8)} ${String(clients).padStart(5)} clients  throughput ${tps.toFixed(0).padStart(7)} tps  ` +
            `connect ${connecting.toFixed(2).padStart(6)} s  ${processed} transactions, ${failed} failed`,
    );
    return { tps, failed, clients };
}

async function bench(seconds: number): Promise<void> {
    const plan = await planFromValues("bench-pool", {
        environment: "prod",
        clusterName: "bench",
        backupEnabled: false,
        monitoringEnabled: false,
        poolingEnabled: true,
        poolMaxClientConn: 1100,
        services: [{ name: "bench", pooled: true }],
    });
    const s = await startStackServer(plan);
    const ini = (plan.plan.resources.find((r) => r.name === "hanzo-sql-pgbouncer-config")!.inputs as { data: Record<string, string> }).data[
        "pgbouncer.ini"
    ];
    const pooler = await PgbouncerServer.start(ini, await serverUserlist(s.server, ["bench_user"]), s.server.port);
    const env = { PGPASSWORD: s.passwords.bench_user };
    try {
        pgbench(["-h", "127.0.0.1", "-p", String(s.server.port), "-U", "bench_user", "-i", "-s", "10", "-q", "bench"], env);
        const version = spawnSync(PGBOUNCER_BIN, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
        console.log(
            `pgbench -S, ${seconds} s each (throughput excludes connecting); ${version} pool_mode=transaction default_pool_size=20 max_client_conn=1100 max_prepared_statements=${PGBOUNCER_MAX_PREPARED_STATEMENTS}`,
        );
        const runs: Run[] = [];
        const ratios: string[] = [];
        for (const mode of ["simple", "prepared"] as const) {
            const direct = run("direct to PostgreSQL", mode, s.server.port, 100, seconds, env);
            const pooled = run("through PgBouncer", mode, pooler.port, 100, seconds, env);
            runs.push(direct, pooled);
            ratios.push(`-M ${mode} ${(pooled.tps / direct.tps).toFixed(2)}`);
        }
        runs.push(run("through PgBouncer", "prepared", pooler.port, 1000, seconds, env));
        console.log(
            `pooled/direct throughput at 100 clients: ${ratios.join(", ")} (target >= 0.90 with -M prepared); failed transactions in all runs: ${runs.reduce((n, r) => n + r.failed, 0)}`,
        );
    } finally {
        pooler.stop();
        s.server.stop();
    }
}

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:pool failed", code: 1, trace: true }, ({ values }) =>
        bench(integerFlag("seconds", values.seconds, 15)),
    );
}
