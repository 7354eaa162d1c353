/**
 * Streaming standbys on real servers (issue 24): the rendered postgresql.conf and pg_hba.conf of a stack with
 * one synchronous standby, the replication role as the program declares it, and the pods' start script
 * (render/scripts/replica-start.sh) run for real: a standby cloned and streaming through its slot, reads
 * served and writes refused there, the role confined to replication from the pod network, commits that wait
 * for the standby, and a failover under write load (primary killed, standby promoted, every acknowledged
 * commit present, the old primary fenced, rewound and rejoined as a standby). What an empty volume of the primary's
 * pod becomes (a clone, a refusal, initdb) is test/db/standbyVolumes.test.ts.
 *
 * Loopback stands in for the pod network: the stack's podNetworkCidrs here is 127.0.0.1/32, so the rendered
 * lines are the ones a pod network gets; 127.0.0.2 (through a relay) is "outside".
 */
import * as assert from "assert";
import { execFile } from "child_process";
import { randomBytes } from "crypto";
import { promisify } from "util";
import * as fs from "fs";
import * as path from "path";
import { Client } from "pg";
import { hbaRules } from "../../policies/standard/pgHba";
import { renderPgHba } from "../../render/pgHba";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { PRIMARY_SLOT, REPLICATION_ROLE, ReplicationSpec, standbySlot } from "../../policies/standard/replication";
import { serverSettings } from "../../policies/standard/settings";
import { pgpassAnyHost } from "../../render/connection";
import { scramVerifier } from "../../render/scram";
import { runStartScript, startReplica } from "../harness/pg/replica";
import { ADMIN, PG_BIN, PgServer, registerSecret } from "../harness/pg/server";
import { relay, tryConnect } from "../support/db";
import { until } from "../support/until";

const execFileAsync = promisify(execFile);
const GiB = 2 ** 30;
const SPEC: ReplicationSpec = { standbys: 1, synchronousStandbys: 1 };
const FILES = {
    postgresqlConf: renderPostgresqlConf(GiB, serverSettings(GiB, undefined, { replication: { spec: SPEC, storageBytes: 10 * GiB } })),
    pgHba: renderPgHba(hbaRules(["127.0.0.1/32"], SPEC)),
};

/** Polls `probe` until it returns true; a condition awaited, never a duration asserted. */
const one = (s: PgServer, sql: string, database = "postgres") =>
    s.psql(`\\pset tuples_only on\n\\pset format unaligned\n${sql}`, {}, database).trim();

describe("streaming standbys on real servers", function () {
    this.timeout(300_000);
    let primary: PgServer;
    let standby: PgServer;
    let cloneLog = "";
    const replicationPassword = randomBytes(24).toString("base64url");
    registerSecret(replicationPassword, REPLICATION_ROLE);
    const pgpass = () => ({
        replicationPgpass: pgpassAnyHost("replication", REPLICATION_ROLE, replicationPassword),
        adminPgpass: `*:*:*:${ADMIN}:${primary.adminPassword}`,
        adminPassword: primary.adminPassword,
    });

    before(async () => {
        primary = await PgServer.start(FILES);
        // The role as components/replication.ts declares it (loginRole: every forbidden attribute false but REPLICATION).
        const verifier = scramVerifier(replicationPassword, randomBytes(16).toString("base64"));
        // synchronous_commit = local: with ANY 1 (...) and no standby yet, a commit would wait for one forever, and no
        // standby can clone before this role exists (docs/standbys.md, "Bootstrap").
        primary.psql(
            `SET synchronous_commit = local;
             CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '${verifier}';
             CREATE DATABASE app; REVOKE ALL ON DATABASE app FROM PUBLIC;`,
        );
        const r = await startReplica({ files: FILES, primaryPort: primary.port, slot: standbySlot(0), role: "standby", ...pgpass() });
        cloneLog = r.run.stderr;
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        standby = r.server;
    });

    after(() => {
        // A primary left without its synchronous standby would hold the harness's own statements at stop.
        for (const s of [standby, primary]) {
            try {
                if (s?.running && one(s, "SELECT pg_is_in_recovery()") === "f") {
                    s.psql("ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf();");
                }
            } catch {
                // killed by the failover case: nothing to release
            }
        }
        for (const s of [standby, primary]) {
            try {
                s?.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
    });

    it("clones the primary into the standby's slot and streams, synchronously, with nothing behind", async () => {
        assert.match(cloneLog, /empty volume: cloning the primary behind 127\.0\.0\.1 into slot postgres_standby_0/);
        assert.strictEqual(one(standby, "SELECT pg_is_in_recovery()"), "t");
        // sync_state turns from async to quorum once the standby has reported its first flush.
        await until(
            "the standby to stream as a synchronous candidate",
            () => one(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'quorum'") === "1",
        );
        assert.strictEqual(
            one(primary, "SELECT application_name, sync_state FROM pg_stat_replication"),
            // ANY k (...) is quorum commit: every listed standby is a candidate.
            "postgres_standby_0|quorum",
        );
        assert.strictEqual(one(primary, "SELECT slot_name, slot_type, active FROM pg_replication_slots"), "postgres_standby_0|physical|t");
        primary.psql(
            "CREATE TABLE t(id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g;",
            {},
            "app",
        );
        const lsn = one(primary, "SELECT pg_current_wal_lsn()");
        await until("the standby to replay the primary's WAL", () => one(standby, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`) === "t");
        // Lag 0 once caught up: what the primary has written, the standby has flushed and replayed.
        assert.strictEqual(
            one(
                primary,
                "SELECT sent_lsn = pg_current_wal_lsn(), flush_lsn = pg_current_wal_lsn(), replay_lsn = pg_current_wal_lsn() FROM pg_stat_replication",
            ),
            "t|t|t",
        );
        for (const name of ["hot_standby_feedback", "wal_log_hints", "synchronous_standby_names", "max_slot_wal_keep_size"]) {
            assert.strictEqual(one(standby, `SHOW ${name}`), one(primary, `SHOW ${name}`));
        }
        assert.strictEqual(one(primary, "SHOW synchronous_standby_names"), "ANY 1 (postgres_0, postgres_standby_0)");
        assert.strictEqual(one(primary, "SHOW max_slot_wal_keep_size"), "2GB");
    });

    it("serves reads on the standby and refuses writes there", async () => {
        assert.strictEqual(standby.psql("\\pset tuples_only on\nSELECT count(*), max(v) FROM t", {}, "app").trim(), "1000 | row 999");
        const c = await standby.admin("app");
        try {
            await assert.rejects(c.query("INSERT INTO t VALUES (0, 'x')"), (e: { code?: string; message: string }) => {
                assert.strictEqual(e.code, "25006");
                assert.strictEqual(e.message, "cannot execute INSERT in a read-only transaction");
                return true;
            });
        } finally {
            await c.end();
        }
    });

    it("keeps the replication password out of the standby's files (libpq reads a private copy of the Secret's line)", () => {
        const auto = fs.readFileSync(path.join(standby.dataDir, "postgresql.auto.conf"), "utf8");
        assert.ok(!auto.includes(replicationPassword));
        assert.match(auto, /^primary_slot_name = 'postgres_standby_0'$/m);
        assert.match(
            auto,
            /^primary_conninfo = 'host=127\.0\.0\.1 port=\d+ user=hanzo_replication application_name=postgres_standby_0 passfile=\S+ connect_timeout=5'$/m,
        );
        assert.ok(fs.existsSync(path.join(standby.dataDir, "standby.signal")));
        assert.strictEqual(fs.statSync(path.join(standby.dir, "run", "replication.pgpass")).mode & 0o777, 0o600);
    });

    it("lets the replication role replicate from the pod network only, and never open a database", async () => {
        // Asynchronous: the relay below forwards in this process's event loop.
        const replicate = async (host: string, port: number, user: string) => {
            const password = user === REPLICATION_ROLE ? replicationPassword : primary.adminPassword;
            try {
                await execFileAsync(
                    "runuser",
                    [
                        "-u",
                        "postgres",
                        "--",
                        `${PG_BIN}/psql`,
                        "-XAtq",
                        "-d",
                        `host=${host} port=${port} user=${user} dbname=replication replication=true`,
                        "-c",
                        "IDENTIFY_SYSTEM",
                    ],
                    { env: { ...process.env, PGPASSWORD: password }, timeout: 30_000 },
                );
                return "ok";
            } catch (e) {
                return String((e as { stderr?: string }).stderr)
                    .trim()
                    .replace(/^psql: error: connection to server at "[^"]*"( \([^)]*\))?, port \d+ failed: /, "");
            }
        };
        assert.strictEqual(await replicate("127.0.0.1", primary.port, REPLICATION_ROLE), "ok");
        // From outside the pod network (127.0.0.2 through a relay): no line admits it.
        const outside = await relay(primary.port, "127.0.0.2");
        try {
            assert.strictEqual(
                await replicate("127.0.0.1", outside.port, REPLICATION_ROLE),
                'FATAL:  no pg_hba.conf entry for replication connection from host "127.0.0.2", user "hanzo_replication", no encryption',
            );
        } finally {
            await outside.close();
        }
        // Another role cannot replicate, even the administrator over the network.
        assert.strictEqual(
            await replicate("127.0.0.1", primary.port, ADMIN),
            'FATAL:  no pg_hba.conf entry for replication connection from host "127.0.0.1", user "hanzo", no encryption',
        );
        // No database session, not even where CONNECT is granted to PUBLIC (postgres here).
        for (const database of ["postgres", "app"]) {
            const r = await tryConnect({ ...primary.tcp(REPLICATION_ROLE, replicationPassword, database) });
            assert.ok(!(r instanceof Client));
            assert.strictEqual(r.code, "28000");
            assert.strictEqual(
                r.message,
                `pg_hba.conf rejects connection for host "127.0.0.1", user "hanzo_replication", database "${database}", no encryption`,
            );
        }
        assert.strictEqual(
            one(
                primary,
                `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = '${REPLICATION_ROLE}'`,
            ),
            "f|f|f|t|f|t",
        );
    });

    it("holds a commit until the standby has it: standby down, the commit waits (RPO 0 over availability)", async () => {
        standby.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", standby.dataDir, "-m", "immediate", "-w", "stop"]);
        await until("the primary to see the standby gone", () => one(primary, "SELECT count(*) FROM pg_stat_replication") === "0");
        const c = new Client(primary.tcp(ADMIN, primary.adminPassword, "app"));
        await c.connect();
        let done = false;
        const commit = c.query("INSERT INTO t VALUES (1001, 'waits')").then(() => (done = true));
        try {
            await until(
                "the commit to wait for synchronous replication",
                () => one(primary, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") === "1",
            );
            assert.strictEqual(done, false);
            // Committed locally but not acknowledged: other sessions see it only once it is (PostgreSQL 15 shows it at once;
            // what matters is that the client has no acknowledgement).
            standby.resume();
            await commit;
            assert.strictEqual(done, true);
            assert.strictEqual(standby.psql("\\pset tuples_only on\nSELECT v FROM t WHERE id = 1001", {}, "app").trim(), "waits");
        } finally {
            await c.end();
        }
    });

    it("fails over under write load without losing an acknowledged commit; the new primary's first write waits for a standby", async () => {
        primary.psql("CREATE TABLE acked(client int, n int, PRIMARY KEY (client, n))", {}, "app");
        const acknowledged: [number, number][] = [];
        let stop = false;
        const writer = async (client: number) => {
            const c = new Client(primary.tcp(ADMIN, primary.adminPassword, "app"));
            await c.connect();
            c.on("error", () => undefined);
            for (let n = 0; !stop; n++) {
                try {
                    await c.query("INSERT INTO acked VALUES ($1, $2)", [client, n]);
                } catch {
                    break;
                }
                acknowledged.push([client, n]);
            }
            await c.end().catch(() => undefined);
        };
        const writers = [0, 1, 2, 3].map(writer);
        await until("writes to be acknowledged", () => acknowledged.length >= 2000);
        // The primary's death: SIGKILL to the postmaster, as a lost node.
        const pid = Number(fs.readFileSync(path.join(primary.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
        const children = primary
            .runAsPostgres("pgrep", ["-P", String(pid)])
            .stdout.split("\n")
            .filter((x) => x !== "");
        process.kill(pid, "SIGKILL");
        await Promise.all(writers);
        stop = true;
        await until("the old primary's processes to exit", () => [String(pid), ...children].every((p) => !fs.existsSync(`/proc/${p}`)));
        // Promotion (the procedure's step 2).
        standby.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", standby.dataDir, "-w", "promote"]);
        assert.strictEqual(one(standby, "SELECT pg_is_in_recovery()"), "f");
        const rows = new Set(
            standby
                .psql("\\pset tuples_only on\n\\pset format unaligned\nSELECT client || ',' || n FROM acked", {}, "app")
                .trim()
                .split("\n"),
        );
        const lost = acknowledged.filter(([c, n]) => !rows.has(`${c},${n}`));
        assert.deepStrictEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged commits lost`);
        assert.ok(rows.size >= acknowledged.length);

        // A write on the new primary waits: ANY 1 needs a standby, and the only other member is the old primary.
        const c = new Client({ ...standby.tcp(ADMIN, primary.adminPassword, "app") });
        await c.connect();
        let written = false;
        const write = c.query("INSERT INTO acked VALUES (99, 0)").then(() => (written = true));
        try {
            await until(
                "the first write to wait for a standby",
                () => one(standby, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") === "1",
            );
            assert.strictEqual(written, false);
        } finally {
            // Released by hand here (asynchronous for this write); the rejoin that should release it is the next case.
            standby.psql("ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf();");
            await write;
            await c.end();
            standby.psql("ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();");
        }
    });

    /** The LSN where `timeline` forked off its parent, from the promoted server's history file. */
    const forkOf = (s: PgServer, timeline: number) =>
        one(s, `SELECT pg_read_file('pg_wal/${timeline.toString(16).toUpperCase().padStart(8, "0")}.history')`)
            .trim()
            .split("\n")
            .pop()!
            .split("\t")[1];
    /** Every row of acked on a server, as one digest (the same rows on two servers, or not). */
    const ackedDigest = (s: PgServer) =>
        one(s, "SELECT count(*) || ' ' || md5(string_agg(client || ',' || n, ';' ORDER BY client, n)) FROM acked", "app");

    // The new primary was promoted without a CHECKPOINT (pg_ctl promote -w alone): its control file still records
    // timeline 1, and the start script must see the fork anyway (it issues the CHECKPOINT itself).
    it("rejoins the killed old primary as a standby of the new one (start script: fence, CHECKPOINT, pg_rewind, follow)", async () => {
        const fork = forkOf(standby, 2);
        const rejoin = runStartScript(primary.dir, {
            files: FILES,
            primaryPort: standby.port,
            slot: PRIMARY_SLOT,
            role: "primary",
            ...pgpass(),
        });
        assert.strictEqual(rejoin.status, 0, rejoin.stderr);
        assert.match(
            rejoin.stderr,
            /this volume was a primary, and another primary of this cluster serves 127\.0\.0\.1: rewinding and rejoining as its standby/,
        );
        // pg_rewind saw the fork where the new primary's history file puts it (with the bug: "source and target
        // cluster are on the same timeline").
        assert.ok(rejoin.stderr.includes(`pg_rewind: servers diverged at WAL location ${fork} on timeline 1\n`), rejoin.stderr);
        try {
            primary.resume();
        } catch (e) {
            throw new Error(`the rejoined server did not start: ${(e as Error).message}\n${primary.log().slice(-3000)}`);
        }
        assert.strictEqual(one(primary, "SELECT pg_is_in_recovery()"), "t");
        await until(
            "the rejoined server to stream",
            () =>
                one(standby, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'postgres_0' AND state = 'streaming'") ===
                "1",
        );
        assert.strictEqual(one(standby, "SELECT slot_name, active FROM pg_replication_slots"), "postgres_0|t");
        const lsn = one(standby, "SELECT pg_current_wal_lsn()");
        await until("the rejoined server to replay", () => one(primary, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`) === "t");
        assert.strictEqual(ackedDigest(primary), ackedDigest(standby));
    });

    it("rejoins a killed primary that wrote a commit no standby has (never acknowledged) without ever serving it", async () => {
        // Now the standby's server is the primary (timeline 2) and the old primary its synchronous standby. That standby
        // goes down; a commit on the primary is written to its WAL only and waits in SyncRep; the primary is killed.
        primary.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", primary.dataDir, "-m", "immediate", "-w", "stop"]);
        await until("the primary to see its standby gone", () => one(standby, "SELECT count(*) FROM pg_stat_replication") === "0");
        const c = new Client(standby.tcp(ADMIN, standby.adminPassword, "app"));
        await c.connect();
        c.on("error", () => undefined);
        let acknowledged = false;
        const write = c.query("INSERT INTO acked VALUES (97, 0)").then(
            () => (acknowledged = true),
            () => undefined,
        );
        await until(
            "the commit to wait for a standby",
            () => one(standby, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") === "1",
        );
        const pid = Number(fs.readFileSync(path.join(standby.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
        process.kill(pid, "SIGKILL");
        await write;
        assert.strictEqual(acknowledged, false);
        await until("the killed primary to exit", () => !fs.existsSync(`/proc/${pid}`));
        // The standby comes back and is promoted (timeline 3); the killed primary rejoins through its start script.
        primary.resume();
        primary.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", primary.dataDir, "-w", "promote"]);
        const fork = forkOf(primary, 3);
        const rejoin = runStartScript(standby.dir, {
            files: FILES,
            primaryPort: primary.port,
            slot: standbySlot(0),
            role: "standby",
            ...pgpass(),
        });
        assert.strictEqual(rejoin.status, 0, rejoin.stderr);
        assert.ok(rejoin.stderr.includes(`pg_rewind: servers diverged at WAL location ${fork} on timeline 2\n`), rejoin.stderr);
        // It had WAL past the fork, so pg_rewind rewound it (not "no rewind required").
        assert.match(rejoin.stderr, /^pg_rewind: rewinding from last common checkpoint at /m);
        assert.match(rejoin.stderr, /^pg_rewind: Done!$/m);
        standby.resume();
        // The first read it serves (hot standby) already lacks the commit it wrote alone.
        assert.strictEqual(one(standby, "SELECT pg_is_in_recovery()"), "t");
        assert.strictEqual(one(standby, "SELECT count(*) FROM acked WHERE client = 97", "app"), "0");
        await until(
            "the rejoined server to stream",
            () =>
                one(
                    primary,
                    "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'postgres_standby_0' AND state = 'streaming'",
                ) === "1",
        );
        assert.strictEqual(one(primary, "SELECT slot_name, active FROM pg_replication_slots"), "postgres_standby_0|t");
        const lsn = one(primary, "SELECT pg_current_wal_lsn()");
        await until("the rejoined server to replay", () => one(standby, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`) === "t");
        assert.strictEqual(ackedDigest(standby), ackedDigest(primary));
        assert.strictEqual(one(primary, "SELECT count(*) FROM acked WHERE client = 97", "app"), "0");
    });
});
