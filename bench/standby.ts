/**
 * npm run bench:standby [-- --scale 10 --load-seconds 20 --read-seconds 10 --clients 4]
 *
 * One run, on loopback servers with the rendered postgresql.conf and pg_hba.conf of a stack with standbys, the
 * standbys cloned by the pods' start script, a relay standing in for the `postgres` Service
 * (test/harness/local/standbys.ts), prints:
 * - replication lag under pgbench write load (TPC-B-like, --clients), one asynchronous standby:
 *   pg_stat_replication sampled every 100 ms, bytes (current LSN − replay LSN) and seconds (replay_lag),
 *   p50/p99/max;
 * - read throughput: pgbench -S with the same clients on the standby against the primary;
 * - failover under writes, asynchronous (standbys 1) and synchronous (standbys 2, synchronousStandbys 1):
 *   writers commit through the Service; kill -9 of the primary's postmaster; the documented steps back to back
 *   (promote the standby that received the most WAL, CHECKPOINT, the other standbys' slots, the Service pointed
 *   at it); the time from the kill to the first write the new primary acknowledges, and the acknowledged commits
 *   missing there (0 is required in synchronous mode). Noticing the death is not in the time: the procedure
 *   is run by a person (docs/standbys.md).
 * Say what else ran on the machine (the load average is printed): it is shared.
 */
import * as os from "os";
import { Command, Flag, integerFlag, runCommand } from "../cli/cli";
import { FailoverResult, StandbyRig, percentile } from "../test/harness/local/standbys";

export const COMMAND = {
    name: "npm run bench:standby --",
    summary:
        "Replication lag under pgbench, standby read throughput against the primary, failover time and lost commits (async and synchronous); one run.",
    flags: {
        scale: { type: "string", value: "<n>", description: "pgbench scale (default 10: ~150 MB)" },
        "load-seconds": { type: "string", value: "<s>", description: "seconds of pgbench write load while lag is sampled (default 20)" },
        "read-seconds": { type: "string", value: "<s>", description: "seconds of pgbench -S on each server (default 10)" },
        clients: { type: "string", value: "<n>", description: "pgbench clients, and writers in the failovers (default 4)" },
    },
} as const satisfies Command<Record<string, Flag>>;

const load = () =>
    os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(" ");

export interface StandbyBenchOptions {
    readonly scale: number;
    readonly loadSeconds: number;
    readonly readSeconds: number;
    readonly clients: number;
    /** Commits acknowledged before the kill, and after the failover before the writers stop. */
    readonly before: number;
    readonly after: number;
}

export interface StandbyBenchResult {
    readonly lag: { bytes: number[]; seconds: number[]; samples: number; tps: number };
    readonly readTps: { primary: number; standby: number };
    readonly async: FailoverResult;
    readonly sync: FailoverResult;
}

const line = (label: string, value: string) => console.log(`${label.padEnd(72)} ${value}`);

function printFailover(label: string, f: FailoverResult): void {
    line(
        `failover ${label}: kill -9 → first write on the new primary`,
        `${f.firstWriteS.toFixed(2)} s (npm run failover's promotion + CHECKPOINT ${f.promotedS.toFixed(2)} s, relabel ${f.relabelledS.toFixed(2)} s)`,
    );
    line(
        `failover ${label}: acknowledged commits lost`,
        `${f.lost} of ${f.ackedBefore} before the kill (${f.ackedAfter} after; promoted ${f.promoted}; receive LSNs ${Object.entries(
            f.receiveLsns,
        )
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")})`,
    );
}

/** The whole bench; `quiet` prints nothing (the test runs it at a tiny size). */
export async function runStandbyBench(o: StandbyBenchOptions, quiet = false): Promise<StandbyBenchResult> {
    const say = quiet ? () => undefined : line;
    let lag: StandbyBenchResult["lag"];
    let readTps: StandbyBenchResult["readTps"];
    let asyncResult: FailoverResult;
    {
        const rig = await StandbyRig.start({ standbys: 1, synchronousStandbys: 0 });
        try {
            await rig.initPgbench(o.scale);
            lag = await rig.lagUnderLoad(o.loadSeconds, o.clients);
            await rig.caughtUp();
            readTps = {
                primary: rig.readThroughput(rig.primary, o.readSeconds, o.clients),
                standby: rig.readThroughput(rig.standbys[0], o.readSeconds, o.clients),
            };
            asyncResult = await rig.failover({ writers: o.clients, before: o.before, after: o.after });
        } finally {
            await rig.stop();
        }
    }
    const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
    const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
    say(
        `lag under pgbench (${o.clients} clients, ${lag.tps.toFixed(0)} tps, ${lag.samples} samples): bytes p50/p99/max`,
        [50, 99, 100].map((p) => kib(percentile(lag.bytes, p))).join(" / "),
    );
    say(
        `lag under pgbench: replay_lag p50/p99/max (${lag.seconds.length} non-null)`,
        [50, 99, 100].map((p) => ms(percentile(lag.seconds, p))).join(" / "),
    );
    say(`pgbench -S ${o.clients} clients: primary / standby`, `${readTps.primary.toFixed(0)} / ${readTps.standby.toFixed(0)} tps`);
    if (!quiet) printFailover("async (1 standby)", asyncResult);
    let syncResult: FailoverResult;
    {
        const rig = await StandbyRig.start({ standbys: 2, synchronousStandbys: 1 });
        try {
            syncResult = await rig.failover({ writers: o.clients, before: o.before, after: o.after });
        } finally {
            await rig.stop();
        }
    }
    if (!quiet) {
        printFailover("sync (2 standbys, ANY 1)", syncResult);
        console.log("");
        console.log(`standby reads vs primary reads (pgbench -S):  ${(readTps.standby / readTps.primary).toFixed(2)}×`);
        console.log(`load average at end: ${load()}`);
    }
    return { lag, readTps, async: asyncResult, sync: syncResult };
}

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:standby failed", code: 1, trace: true }, async ({ values }) => {
        console.log(`load average at start: ${load()} (${os.cpus().length} cores, shared)`);
        await runStandbyBench({
            scale: integerFlag("scale", values.scale, 10),
            loadSeconds: integerFlag("load-seconds", values["load-seconds"], 20),
            readSeconds: integerFlag("read-seconds", values["read-seconds"], 10),
            clients: integerFlag("clients", values.clients, 4),
            before: 2000,
            after: 500,
        });
    });
}
