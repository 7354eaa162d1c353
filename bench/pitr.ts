/**
 * npm run bench:pitr [-- --scale 30 --load-seconds 20]
 *
 * One run, on a server archiving with the rendered pgBackRest configuration into s3rver over TLS
 * (test/harness/local/pitr.ts), prints:
 * - RPO under pgbench write load: a heartbeat row committed every 100 ms beside pgbench; the postmaster is
 *   killed (kill -9) and its PGDATA discarded; the archive alone is restored to its end; RPO = the last
 *   acknowledged heartbeat minus the last restored one;
 * - RPO idle: the same with only the heartbeat after the load (one row every 100 ms is still some WAL:
 *   archive_timeout decides) — skipped with --idle-seconds 0;
 * - base backup throughput (full, zstd, process-max 2) and the restore time from the engine against
 *   pg_dump -Fc / pg_restore -j2 of the same database;
 * - the archive's cost of a quiet day: the bytes one forced segment switch with one row in it adds to the
 *   repository, times the switches archive_timeout allows in a day.
 * Say what else ran on the machine (the load average is printed): it is shared.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { Command, Flag, integerFlag, runCommand } from "../cli/cli";
import { PitrRig } from "../test/harness/local/pitr";
import { ADMIN, PG_BIN, PgServer } from "../test/harness/pg/server";

export const COMMAND = {
    name: "npm run bench:pitr --",
    summary:
        "RPO under load and idle, base backup throughput, RTO from pgBackRest against pg_restore -j2, archive bytes per quiet day; one run.",
    flags: {
        scale: { type: "string", value: "<n>", description: "pgbench scale (default 30: ~450 MB)" },
        "load-seconds": { type: "string", value: "<s>", description: "seconds of pgbench load before the kill (default 20)" },
        "idle-seconds": {
            type: "string",
            value: "<s>",
            description: "seconds of heartbeat only before the idle kill (default 90; 0 skips)",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 2 ** 20;

function pgbench(server: PgServer, args: string[]): { status: number; out: string } {
    const r = server.client("pgbench", args);
    return { status: r.status, out: r.stdout + r.stderr };
}

/** Commits a heartbeat row every 100 ms until stopped; returns the last acknowledged beat's number. */
function heartbeat(server: PgServer): { stop: () => Promise<number> } {
    let running = true;
    let last = 0;
    const done = (async () => {
        const c = await server.admin();
        c.on("error", () => undefined);
        try {
            for (let i = 1; running; i++) {
                await c.query("INSERT INTO beat (n) VALUES ($1)", [i]);
                last = i;
                await sleep(100);
            }
        } catch {
            // the server was killed: the last acknowledged beat stands
        }
        await c.end().catch(() => undefined);
    })();
    return {
        stop: async () => {
            running = false;
            await done;
            return last;
        },
    };
}

/** kill -9 of the postmaster, as a lost node; PGDATA is then thrown away (the rig's stop removes it). */
function killServer(server: PgServer): void {
    const pid = fs.readFileSync(path.join(server.dataDir, "postmaster.pid"), "utf8").split("\n")[0];
    process.kill(Number(pid), "SIGKILL");
    fs.rmSync(path.join(server.dataDir, "postmaster.pid"), { force: true });
}

async function rpo(rig: PitrRig, label: string, seconds: number, load: boolean): Promise<number> {
    const beat = heartbeat(rig.server);
    // pgbench in its own process, asynchronously (the heartbeat runs in this one); the kill ends it.
    const bench = load
        ? new Promise<void>((resolve) => {
              const s = rig.server;
              const child = spawn(
                  "runuser",
                  ["-u", "postgres", "--", `${PG_BIN}/pgbench`, "-h", s.socketDir, "-p", String(s.port), "-U", ADMIN].concat([
                      "-n",
                      "-c",
                      "4",
                      "-j",
                      "2",
                      "-T",
                      String(seconds + 30),
                      "postgres",
                  ]),
                  { stdio: "ignore" },
              );
              child.on("close", () => resolve());
          })
        : Promise.resolve();
    await sleep(seconds * 1000);
    killServer(rig.server);
    const acked = await beat.stop();
    await bench;
    const scratch = await rig.restore({ type: "end" });
    try {
        const { n } = await rig.one<{ n: number }>("SELECT coalesce(max(n), 0)::int AS n FROM beat", scratch);
        const lost = (acked - n) / 10;
        console.log(`${label.padEnd(60)} ${lost.toFixed(1).padStart(6)} s lost (beat ${n} of ${acked} acknowledged)`);
        return lost;
    } finally {
        scratch.stop();
    }
}

async function bench(scale: number, loadSeconds: number, idleSeconds: number): Promise<void> {
    console.log(
        `load average at start: ${os
            .loadavg()
            .map((x) => x.toFixed(2))
            .join(" ")} (${os.cpus().length} cores, shared)`,
    );
    // RPO under load on its own rig: it ends with the server killed.
    {
        const rig = await PitrRig.start({ archiveTimeoutSeconds: 60 });
        try {
            await rig.one("CREATE TABLE beat (n int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
            const init = pgbench(rig.server, ["-i", "-q", "-s", "10"]);
            if (init.status !== 0) throw new Error(init.out);
            rig.pgbackrest(["backup", "--type=full"], { job: true });
            await rpo(rig, "RPO under pgbench load (4 clients), archive to its end", loadSeconds, true);
        } finally {
            await rig.stop();
        }
    }
    if (idleSeconds > 0) {
        const rig = await PitrRig.start({ archiveTimeoutSeconds: 60 });
        try {
            await rig.one("CREATE TABLE beat (n int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
            rig.pgbackrest(["backup", "--type=full"], { job: true });
            await rpo(rig, `RPO quiet (heartbeat only, archive_timeout 60 s, ${idleSeconds} s)`, idleSeconds, false);
        } finally {
            await rig.stop();
        }
    }
    // Throughput, RTO and the cost of a quiet day on a third rig.
    const rig = await PitrRig.start({ archiveTimeoutSeconds: 60 });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-bench-pitr-"));
    fs.chmodSync(work, 0o777);
    try {
        const init = pgbench(rig.server, ["-i", "-q", "-s", String(scale)]);
        if (init.status !== 0) throw new Error(init.out);
        const { bytes } = await rig.one<{ bytes: string }>("SELECT pg_database_size('postgres')::text AS bytes");
        const size = Number(bytes);
        const t0 = performance.now();
        rig.pgbackrest(["backup", "--type=full"], { job: true });
        const backupS = (performance.now() - t0) / 1000;
        console.log(
            `${"full base backup (zstd, process-max 2)".padEnd(60)} ${backupS.toFixed(1).padStart(6)} s  ${(size / MiB / backupS).toFixed(0)} MiB/s of ${(size / MiB).toFixed(0)} MiB`,
        );
        await rig.switchAndArchive();
        const t1 = performance.now();
        const scratch = await rig.restore({ type: "end" });
        const restoreS = (performance.now() - t1) / 1000;
        scratch.stop();
        console.log(`${"RTO: pgBackRest restore to the archive's end, server up".padEnd(60)} ${restoreS.toFixed(1).padStart(6)} s`);
        // The same database through the dumps' tools.
        const dump = path.join(work, "postgres.dump");
        const env = { ...process.env, PGHOST: rig.server.socketDir, PGPORT: String(rig.server.port), PGUSER: ADMIN };
        const t2 = performance.now();
        const d = spawnSync(`${PG_BIN}/pg_dump`, ["-Fc", "-f", dump, "postgres"], { env, encoding: "utf8" });
        if (d.status !== 0) throw new Error(d.stderr);
        const dumpS = (performance.now() - t2) / 1000;
        spawnSync(`${PG_BIN}/psql`, ["-X", "-q", "-c", "CREATE DATABASE restored", "postgres"], { env });
        const t3 = performance.now();
        const r = spawnSync(`${PG_BIN}/pg_restore`, ["-j", "2", "--no-owner", "-d", "restored", dump], { env, encoding: "utf8" });
        if (r.status !== 0) throw new Error(r.stderr);
        const pgRestoreS = (performance.now() - t3) / 1000;
        console.log(`${"pg_dump -Fc of the same database".padEnd(60)} ${dumpS.toFixed(1).padStart(6)} s`);
        console.log(`${"pg_restore -j2 of it into an empty database".padEnd(60)} ${pgRestoreS.toFixed(1).padStart(6)} s`);
        // A quiet day: one row, a forced switch, the segment archived: the repository's growth.
        const repo = () => rig.s3.keys("pitr/archive").reduce((n, k) => n + rig.s3.read(k).length, 0);
        const before = repo();
        const switches = 5;
        await rig.one("CREATE TABLE quiet (n int)");
        for (let i = 0; i < switches; i++) {
            await rig.one("INSERT INTO quiet VALUES (1)");
            await rig.switchAndArchive();
        }
        const perSegment = (repo() - before) / switches;
        const perDay = (perSegment * 86_400) / rig.spec.archiveTimeoutSeconds;
        console.log(`${"archive bytes per quiet segment (zstd)".padEnd(60)} ${(perSegment / 1024).toFixed(1).padStart(6)} KiB`);
        console.log(`${"archive per quiet day (one switch per archive_timeout)".padEnd(60)} ${(perDay / MiB).toFixed(1).padStart(6)} MiB`);
        console.log("");
        console.log(`restore: pgBackRest vs pg_restore -j2:  ${(pgRestoreS / restoreS).toFixed(2)}× faster`);
        console.log(
            `load average at end: ${os
                .loadavg()
                .map((x) => x.toFixed(2))
                .join(" ")}`,
        );
    } finally {
        await rig.stop();
        fs.rmSync(work, { recursive: true, force: true });
    }
}

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:pitr failed", code: 1, trace: true }, ({ values }) =>
        bench(
            integerFlag("scale", values.scale, 30),
            integerFlag("load-seconds", values["load-seconds"], 20),
            integerFlag("idle-seconds", values["idle-seconds"], 90, 0),
        ),
    );
}
