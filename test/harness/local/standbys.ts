/**
 * A replicated stack on loopback for `npm run bench:standby` and its test: a primary with the rendered
 * postgresql.conf and pg_hba.conf of `standbys`/`synchronousStandbys`, the replication role as the program
 * declares it, standbys cloned by the pods' start script (render/scripts/replica-start.sh), and a TCP relay
 * standing in for the `postgres` Service: the standbys' primary_conninfo and the writers lead to it, and the
 * failover procedure points it at the promoted standby (the relabel of docs/standbys.md step 3).
 *
 * The measurements (lag under pgbench, a failover under writes, pgbench -S on either server) are functions
 * here, so the test runs exactly the bench's machinery at a tiny size (test/db/benchStandby.test.ts).
 */
import { ChildProcess, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as readline from "readline";
import * as path from "path";
import { performance } from "perf_hooks";
import { Client } from "pg";
import { REPLICATION_ROLE, ReplicationSpec, standbySlot } from "../../../policies/standard/replication";
import { HELD_WAL_SQL, mostAdvanced } from "../../../policies/standard/promotion";
import { KubectlResult, RejoinPendingError, failover } from "../../../cli/failover";
import { ServerPodHandle, kubectlOver } from "../kubectl";
import { serverSettings } from "../../../policies/standard/settings";
import { hbaRules } from "../../../policies/standard/pgHba";
import { renderPgHba } from "../../../render/pgHba";
import { renderPostgresqlConf } from "../../../render/postgresqlConf";
import { pgpassAnyHost } from "../../../render/connection";
import { scramVerifier } from "../../../render/scram";
import { SYNCHRONOUS_BOOTSTRAP_PSQL } from "../../../render/privilegedSession";
import { startReplica } from "../pg/replica";
import { ADMIN, PG_BIN, PgServer, ServerFiles, postgresCommand, registerSecret } from "../pg/server";

const GiB = 2 ** 30;
/** The stack's defaults: a 2Gi memory limit, a 50Gi volume (STANDARD §7). */
const MEMORY_BYTES = 2 * GiB;
const STORAGE_BYTES = 50 * GiB;
/** The service role the writers commit as (synchronous_commit on, as every service role). */
export const APP_ROLE = "app_user";
export const APP_DATABASE = "app";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The namespace the rig's kubectl is asked about (the stack's default). */
const NAMESPACE = "hanzo";

/**
 * `kubectl exec <pod> -c postgres -- <command>` on a loopback server, for the two commands the failover runs there:
 * `env PGOPTIONS=… psql <args>` (over the server's socket, as the container's local socket) and its clean stop
 * (`bash -c 'pg_ctl -D "$PGDATA" -m fast -w stop'`). Asynchronous: the writers of a bench keep running meanwhile.
 */
function execOnServer(server: PgServer, command: readonly string[]): Promise<KubectlResult> {
    let argv: string[];
    let env: NodeJS.ProcessEnv;
    if (command[0] === "env" && /^PGOPTIONS=/.test(command[1] ?? "") && command[2] === "psql") {
        argv = [`${PG_BIN}/psql`, ...command.slice(3), "-h", server.socketDir, "-p", String(server.port)];
        env = { ...process.env, PGOPTIONS: command[1].replace(/^PGOPTIONS=/, ""), PGPASSWORD: "" };
    } else if (command.join(" ") === 'bash -c pg_ctl -D "$PGDATA" -m fast -w stop') {
        const [file, args] = postgresCommand(`${PG_BIN}/pg_ctl`, ["-D", server.dataDir, "-m", "fast", "-w", "stop"]);
        argv = [file, ...args];
        env = process.env;
    } else {
        throw new Error(`kubectl exec … -- ${command.join(" ")}: not a command cli/failover.ts runs in the server container`);
    }
    return new Promise((resolve) => {
        const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += String(d)));
        child.stderr.on("data", (d) => (stderr += String(d)));
        child.on("close", (code) => resolve({ status: code ?? 1, stdout, stderr }));
    });
}

/** The rendered files of a stack with these standbys, with loopback as the pod network. */
export function standbyFiles(spec: ReplicationSpec): ServerFiles {
    return {
        postgresqlConf: renderPostgresqlConf(
            MEMORY_BYTES,
            serverSettings(MEMORY_BYTES, undefined, { replication: { spec, storageBytes: STORAGE_BYTES } }),
        ),
        pgHba: renderPgHba(hbaRules(["127.0.0.1/32"], spec)),
    };
}

/**
 * The relay's own process: it must keep forwarding while this one blocks in spawnSync (psql, pgbench, the start
 * script), since the standbys stream through it. RELAY_TARGET: the first target port; it prints its port, then reads
 * one new target port per line on stdin and answers each with "ok".
 */
const RELAY_SOURCE = `
const net = require("net");
let target = Number(process.env.RELAY_TARGET);
const sockets = new Set();
const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: target });
    for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => s.destroy());
        s.on("close", () => { sockets.delete(s); (s === client ? upstream : client).destroy(); });
    }
    client.pipe(upstream).pipe(client);
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
let buf = "";
process.stdin.on("data", (d) => {
    buf += d;
    for (let i; (i = buf.indexOf("\\n")) >= 0; buf = buf.slice(i + 1)) {
        target = Number(buf.slice(0, i));
        process.stdout.write("ok\\n");
    }
});
process.stdin.on("end", () => process.exit(0));
`;

/** A TCP relay on 127.0.0.1 whose target can be switched: the `postgres` Service resolving to another pod. */
export class ServiceRelay {
    private replies: ((line: string) => void)[] = [];
    private constructor(
        private readonly child: ChildProcess,
        readonly port: number,
    ) {
        const lines = readline.createInterface({ input: child.stdout! });
        lines.on("line", (l) => this.replies.shift()?.(l));
    }

    static async start(target: number): Promise<ServiceRelay> {
        const child = spawn(process.execPath, ["-e", RELAY_SOURCE], {
            stdio: ["pipe", "pipe", "inherit"],
            env: { ...process.env, RELAY_TARGET: String(target) },
        });
        const port = await new Promise<number>((resolve, reject) => {
            child.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
            child.once("exit", (code) => reject(new Error(`the relay exited ${code}`)));
        });
        return new ServiceRelay(child, port);
    }

    /** New connections go to `port` (connections already open stay where they are, as with a Service). */
    async retarget(port: number): Promise<void> {
        const ok = new Promise<string>((resolve) => this.replies.push(resolve));
        this.child.stdin!.write(`${port}\n`);
        if ((await ok) !== "ok") {
            throw new Error("the relay did not take its new target");
        }
    }

    async close(): Promise<void> {
        if (this.child.exitCode === null) {
            const exited = new Promise((resolve) => this.child.once("exit", resolve));
            this.child.kill("SIGTERM");
            await exited;
        }
    }
}

/** One value of a query as text, as the administrator over the server's socket. */
export function one(server: PgServer, sql: string, database = "postgres"): string {
    return server.psql(`\\pset tuples_only on\n\\pset format unaligned\n${sql}`, {}, database).trim();
}

/** pgbench as the administrator over the server's socket; throws with its output when it fails. */
export function pgbench(server: PgServer, args: string[]): string {
    const r = server.client("pgbench", args);
    if (r.status !== 0) {
        throw new Error(`pgbench ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    }
    return r.stdout + r.stderr;
}

/** pgbench's `tps = N (without initial connection time)`. */
export function tpsOf(output: string): number {
    const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
    if (!m) {
        throw new Error(`no tps in pgbench's output:\n${output}`);
    }
    return Number(m[1]);
}

export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) {
        return NaN;
    }
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface LagSamples {
    /** pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) per standby per sample. */
    readonly bytes: number[];
    /** pg_stat_replication.replay_lag in seconds, where it was not null. */
    readonly seconds: number[];
    /** Samples taken (each covers every standby). */
    readonly samples: number;
    /** pgbench's own tps over the same period. */
    readonly tps: number;
}

export interface FailoverResult {
    /** Commits acknowledged to the writers before the kill and after it. */
    readonly ackedBefore: number;
    readonly ackedAfter: number;
    /** Acknowledged commits missing on the new primary. */
    readonly lost: number;
    /** From the kill: `npm run failover`'s promotion and CHECKPOINT done, its relabel done, the first write acknowledged by the new primary (seconds). */
    readonly promotedS: number;
    readonly relabelledS: number;
    readonly firstWriteS: number;
    /** The standby promoted (the one holding the most WAL), and the WAL each held at the choice (policies/standard/promotion.ts). */
    readonly promoted: string;
    readonly receiveLsns: Readonly<Record<string, string>>;
    /** What the command logged. */
    readonly log: readonly string[];
}

export class StandbyRig {
    private constructor(
        readonly spec: ReplicationSpec,
        readonly primary: PgServer,
        readonly standbys: PgServer[],
        readonly service: ServiceRelay,
        private readonly appPassword: string,
    ) {}

    /** The primary's postmaster was killed (killPrimary): kubectl finds no postgres-0 from then on. */
    private primaryGone = false;
    /** How many times a relabel to `primary` pointed the Service relay at a server. */
    private retargets = 0;

    /** Kills the primary's postmaster (-9), as its pod's death. */
    killPrimary(): void {
        const pid = Number(fs.readFileSync(path.join(this.primary.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
        process.kill(pid, "SIGKILL");
        this.primaryGone = true;
    }

    /**
     * The rig's servers as the server pods kubectl names (test/harness/kubectl.ts): `postgres-0` the primary (until
     * killed), `postgres-standby-<i>` the standbys. `exec` runs the failover's two commands on the server: its psql
     * over the server's socket with the PGOPTIONS it passes, and its clean stop; the relabel to `primary` points
     * the Service relay at the server (the `postgres` Service's selector); every server answers Ready; none is
     * recreated after a delete (no StatefulSet here).
     */
    pod(name: string): ServerPodHandle | undefined {
        const m = /^postgres-standby-(\d+)$/.exec(name);
        const server = name === "postgres-0" ? (this.primaryGone ? undefined : this.primary) : m ? this.standbys[Number(m[1])] : undefined;
        if (!server) {
            return undefined;
        }
        return {
            exec: (command) => execOnServer(server, command),
            label: async (role) => {
                if (role === "primary") {
                    await this.service.retarget(server.port);
                    this.retargets++;
                }
            },
            ready: async () => server.running,
            waitReady: async () => undefined,
            delete: async () => {
                throw new Error(`${name}: a loopback server has no StatefulSet to recreate it`);
            },
        };
    }

    /** The primary, the replication role, the service role and its database, then every standby cloned and streaming. */
    static async start(spec: ReplicationSpec): Promise<StandbyRig> {
        const files = standbyFiles(spec);
        const primary = await PgServer.start(files);
        const replicationPassword = randomBytes(24).toString("base64url");
        registerSecret(replicationPassword, REPLICATION_ROLE);
        const appPassword = randomBytes(24).toString("base64url");
        registerSecret(appPassword, APP_ROLE);
        const salt = () => randomBytes(16).toString("base64");
        // The administrator's sessions commit locally (SYNCHRONOUS_BOOTSTRAP_PSQL, as the init file and the init
        // container run it); the service role keeps synchronous_commit on.
        primary.psql(
            `${SYNCHRONOUS_BOOTSTRAP_PSQL}
             CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '${scramVerifier(replicationPassword, salt())}';
             CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${scramVerifier(appPassword, salt())}';
             CREATE DATABASE ${APP_DATABASE} OWNER ${APP_ROLE}; REVOKE ALL ON DATABASE ${APP_DATABASE} FROM PUBLIC;`,
        );
        const service = await ServiceRelay.start(primary.port);
        const rig = new StandbyRig(spec, primary, [], service, appPassword);
        try {
            for (let i = 0; i < spec.standbys; i++) {
                const r = await startReplica({
                    files,
                    primaryPort: service.port,
                    slot: standbySlot(i),
                    role: "standby",
                    replicationPgpass: pgpassAnyHost("replication", REPLICATION_ROLE, replicationPassword),
                    adminPgpass: `*:*:*:${ADMIN}:${primary.adminPassword}`,
                    adminPassword: primary.adminPassword,
                });
                rig.standbys.push(r.server);
                if (r.run.status !== 0) {
                    throw new Error(`the start script of standby ${i} exited ${r.run.status}: ${r.run.stderr}`);
                }
            }
            await rig.until(
                "every standby to stream",
                () => one(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") === String(spec.standbys),
            );
        } catch (e) {
            await rig.stop();
            throw e;
        }
        return rig;
    }

    /** Polls `probe` until true (a condition awaited, never a duration asserted). */
    async until(what: string, probe: () => Promise<boolean> | boolean, seconds = 120): Promise<void> {
        const end = Date.now() + seconds * 1000;
        while (!(await probe())) {
            if (Date.now() > end) {
                throw new Error(`gave up waiting for ${what}`);
            }
            await sleep(50);
        }
    }

    /** Waits until every standby has replayed everything the primary wrote. */
    async caughtUp(): Promise<void> {
        await this.until("the standbys to replay everything", () => {
            const lsn = one(this.primary, "SELECT pg_current_wal_lsn()");
            return this.standbys.every((s) => one(s, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`) === "t");
        });
    }

    /** pgbench -i at `scale` on the primary, then waits for the standbys to replay it. */
    async initPgbench(scale: number): Promise<void> {
        pgbench(this.primary, ["-i", "-q", "-s", String(scale)]);
        await this.caughtUp();
    }

    /** pgbench (TPC-B-like writes, `clients`) for `seconds` on the primary, sampling pg_stat_replication every 100 ms. */
    async lagUnderLoad(seconds: number, clients: number): Promise<LagSamples> {
        const bytes: number[] = [];
        const lagSeconds: number[] = [];
        let samples = 0;
        const s = this.primary;
        let out = "";
        const bench = new Promise<number>((resolve, reject) => {
            const child = spawn(
                "runuser",
                ["-u", "postgres", "--", `${PG_BIN}/pgbench`, "-h", s.socketDir, "-p", String(s.port), "-U", ADMIN].concat([
                    "-n",
                    "-c",
                    String(clients),
                    "-j",
                    "2",
                    "-T",
                    String(seconds),
                    "postgres",
                ]),
                { stdio: ["ignore", "pipe", "pipe"] },
            );
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", (code) => (code === 0 ? resolve(tpsOf(out)) : reject(new Error(`pgbench exited ${code}: ${out}`))));
        });
        let running = true;
        void bench.finally(() => (running = false)).catch(() => undefined);
        const c = await s.admin();
        try {
            while (running) {
                const rows = (
                    await c.query<{ bytes: string; seconds: number | null }>(
                        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS bytes, extract(epoch FROM replay_lag)::float8 AS seconds FROM pg_stat_replication",
                    )
                ).rows;
                samples++;
                for (const r of rows) {
                    bytes.push(Number(r.bytes));
                    if (r.seconds !== null) {
                        lagSeconds.push(r.seconds);
                    }
                }
                await sleep(100);
            }
        } finally {
            await c.end();
        }
        return { bytes, seconds: lagSeconds, samples, tps: await bench };
    }

    /** pgbench -S (reads by primary key) with `clients` for `seconds` on a server; its tps. */
    readThroughput(server: PgServer, seconds: number, clients: number): number {
        return tpsOf(pgbench(server, ["-n", "-S", "-c", String(clients), "-j", "2", "-T", String(seconds)]));
    }

    /** The service role's connection through the `postgres` Service stand-in. */
    private appClient(): Client {
        const c = new Client({
            host: "127.0.0.1",
            port: this.service.port,
            user: APP_ROLE,
            password: this.appPassword,
            database: APP_DATABASE,
            connectionTimeoutMillis: 5000,
        });
        c.on("error", () => undefined);
        return c;
    }

    /**
     * A failover under writes: `writers` clients insert `(client, n)` in autocommit through the Service, each
     * acknowledged pair recorded; after `before` acknowledged commits the primary's postmaster is killed (-9);
     * then the documented procedure, back to back: the standby that received the most WAL is promoted
     * (`SELECT pg_promote(true, 60)`, then `CHECKPOINT`), the other standbys' slots are made on it (a promoted
     * standby has none), and the Service points at it. The writers reconnect through the Service until `after`
     * more commits are acknowledged. Times are from the kill.
     */
    async failover(opts: { writers: number; before: number; after: number }): Promise<FailoverResult> {
        const admin = this.primary;
        admin.psql(
            `CREATE TABLE acked (client int, n int, PRIMARY KEY (client, n)); ALTER TABLE acked OWNER TO ${APP_ROLE};`,
            {},
            APP_DATABASE,
        );
        await this.caughtUp();
        const acked: [number, number][] = [];
        let killedAt = -1;
        let firstAfter = -1;
        let stop = false;
        // Connections established once the Service points at the new primary; only their acknowledgements time the
        // failover (an orphaned backend of the killed postmaster could still acknowledge one on an old connection).
        // Established after the relay's retarget means to the new primary: the relay picks its upstream when it
        // accepts, and a connection it accepted before that went to the dead primary and failed.
        const retargetsBefore = this.retargets;
        const writer = async (client: number): Promise<void> => {
            let c: Client | undefined;
            let toNew = false;
            for (let n = 1; !stop;) {
                try {
                    if (!c) {
                        c = this.appClient();
                        await c.connect();
                        toNew = this.retargets > retargetsBefore;
                    }
                    await c.query("INSERT INTO acked VALUES ($1, $2)", [client, n]);
                    acked.push([client, n]);
                    if (toNew && firstAfter < 0) {
                        firstAfter = performance.now();
                    }
                    n++;
                } catch (e) {
                    if ((e as { code?: string }).code === "23505") {
                        // Committed on the new primary's history but never acknowledged: not counted, move on.
                        n++;
                        continue;
                    }
                    // The primary is gone (or not there yet): reconnect through the Service, as a client does.
                    // The same n is retried: it was not acknowledged.
                    await c?.end().catch(() => undefined);
                    c = undefined;
                    await sleep(10);
                }
            }
            await c?.end().catch(() => undefined);
        };
        const writers = Array.from({ length: opts.writers }, (_, i) => writer(i));
        await this.until(`${opts.before} acknowledged commits`, () => acked.length >= opts.before);
        // The primary dies; then `npm run failover`'s own failover() (cli/failover.ts), its kubectl interpreted on
        // these servers, to the standby holding the most WAL (the one the command would name on a refusal). Its last
        // step, the old primary's rejoin, is not part of the time: nothing recreates a killed loopback server, and
        // the command stops waiting for it.
        killedAt = performance.now();
        this.killPrimary();
        const ackedBefore = acked.length;
        const receiveLsns: Record<string, string> = {};
        for (const [i, s] of this.standbys.entries()) {
            receiveLsns[standbySlot(i)] = one(s, HELD_WAL_SQL);
        }
        const best = this.standbys.findIndex((_, i) => standbySlot(i) === mostAdvanced(receiveLsns));
        const promoted = this.standbys[best];
        const log: string[] = [];
        const at: Record<string, number> = {};
        const outcome = await failover({
            namespace: NAMESPACE,
            from: "postgres-0",
            to: `postgres-standby-${best}`,
            acceptWaitingWrites: true,
            kubectl: kubectlOver(NAMESPACE, (pod) => this.pod(pod)),
            log: (line) => {
                log.push(line);
                if (/ promoted \(CHECKPOINT done\)$/.test(line)) {
                    at.promoted = performance.now();
                }
                if (/ labelled hanzo\.ai\/role=primary and Ready/.test(line)) {
                    at.relabelled = performance.now();
                }
            },
            pause: async () => {
                await sleep(50);
            },
            polls: 40,
        }).then(
            () => "rejoined",
            (e: Error) => (e instanceof RejoinPendingError ? "rejoin pending" : e.message),
        );
        if (outcome !== "rejoin pending") {
            throw new Error(`the failover did not reach its last step: ${outcome}\n${log.join("\n")}`);
        }
        const promotedS = (at.promoted - killedAt) / 1000;
        const relabelledS = (at.relabelled - killedAt) / 1000;
        const target = ackedBefore + opts.after;
        await this.until(`${opts.after} commits acknowledged after the failover`, () => acked.length >= target, 300);
        stop = true;
        await Promise.all(writers);
        const firstWriteS = (firstAfter - killedAt) / 1000;
        // Every acknowledged pair on the new primary.
        const c = await promoted.admin(APP_DATABASE);
        let lost = 0;
        try {
            const have = new Set((await c.query<{ k: string }>("SELECT client || ':' || n AS k FROM acked")).rows.map((r) => r.k));
            lost = acked.filter(([cl, n]) => !have.has(`${cl}:${n}`)).length;
        } finally {
            await c.end();
        }
        // The old primary is not rejoined here (not part of the time); its files go with stop().
        return {
            ackedBefore,
            ackedAfter: acked.length - ackedBefore,
            lost,
            promotedS,
            relabelledS,
            firstWriteS,
            promoted: standbySlot(best),
            receiveLsns,
            log,
        };
    }

    async stop(): Promise<void> {
        await this.service.close();
        if (this.primaryGone) {
            // Killed: its postmaster.pid stays behind, and PgServer.stop would wait for a server that is not there.
            fs.rmSync(path.join(this.primary.dataDir, "postmaster.pid"), { force: true });
        }
        for (const s of [...this.standbys, this.primary]) {
            try {
                // A primary left without its synchronous standbys would hold the harness's own statements at stop.
                if (s.running && one(s, "SELECT pg_is_in_recovery()") === "f") {
                    s.psql("ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf();");
                }
            } catch {
                // already down
            }
            try {
                s.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
    }
}
