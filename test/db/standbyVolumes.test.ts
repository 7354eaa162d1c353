/**
 * What an empty volume of the primary's pod (`postgres-0`) becomes in a stack with standbys (issue 24,
 * docs/standbys.md "The start script"): the pod's start script (render/scripts/replica-start.sh) run for real as
 * the postgres OS user against real servers on loopback (the pod network). The read Service `postgres-ro` is headless
 * and lists Ready pods only (publishNotReadyAddresses unset), so its name resolves while a standby is Ready and not
 * while none is: here `127.0.0.1` (where the standby runs) and a name that never resolves (RFC 6761 `.invalid`).
 * - the first boot (no primary, no Ready standby): left to the entrypoint's initdb;
 * - the primary lost before any promotion, a standby Ready: refused, the volume left empty (whether the standby
 *   answers this pod or not: the script asks the Service's name, never the standby (an initdb there would put an empty cluster behind `postgres`);
 * - after the promotion: cloned as the new primary's standby through slot `postgres_0`, streaming, the same rows.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { PRIMARY_SLOT, REPLICATION_ROLE, ReplicationSpec, standbySlot } from "../../policies/standard/replication";
import { pgpassAnyHost } from "../../render/connection";
import { scramVerifier } from "../../render/scram";
import { emptyVolume, runStartScript, startReplica } from "../harness/pg/replica";
import { ADMIN, PG_BIN, PgServer, freePort, registerSecret } from "../harness/pg/server";
import { replicationFiles } from "../support/replication";
import { until } from "../support/until";

const SPEC: ReplicationSpec = { standbys: 1, synchronousStandbys: 0 };
const FILES = replicationFiles(SPEC);

const one = (s: PgServer, sql: string, database = "postgres") =>
    s.psql(`\\pset tuples_only on\n\\pset format unaligned\n${sql}`, {}, database).trim();

const REFUSED =
    "replica-start: empty volume, no primary answers behind 127.0.0.1, but a standby of this cluster is Ready behind 127.0.0.1: " +
    "refusing to initdb an empty primary in its place; promote the standby (docs/standbys.md, failover), then this pod clones from it\n";

describe("an empty volume of the primary's pod in a stack with standbys (start script, real servers)", function () {
    this.timeout(300_000);
    let primary: PgServer;
    let standby: PgServer;
    let reborn: PgServer | undefined;
    const volumes: string[] = [];
    const replicationPassword = randomBytes(24).toString("base64url");
    registerSecret(replicationPassword, REPLICATION_ROLE);
    const pgpass = () => ({
        replicationPgpass: pgpassAnyHost("replication", REPLICATION_ROLE, replicationPassword),
        adminPgpass: `*:*:*:${ADMIN}:${primary.adminPassword}`,
        adminPassword: primary.adminPassword,
    });
    /** postgres-0's start script over a new empty volume; the volume is left as the script leaves it. */
    const emptyPrimaryStart = async (primaryPort: number, standbysHost?: string) => {
        const v = await emptyVolume(FILES);
        volumes.push(v.dir);
        const run = runStartScript(v.dir, {
            files: FILES,
            primaryPort,
            slot: PRIMARY_SLOT,
            role: "primary",
            ...pgpass(),
            ...(standbysHost ? { standbysHost } : {}),
        });
        return { ...v, run, initialized: fs.existsSync(path.join(v.dir, "data", "PG_VERSION")) };
    };

    before(async () => {
        primary = await PgServer.start(FILES);
        const verifier = scramVerifier(replicationPassword, randomBytes(16).toString("base64"));
        primary.psql(
            `CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '${verifier}';
             CREATE DATABASE app;`,
        );
        primary.psql("CREATE TABLE t(id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 500);", {}, "app");
        const r = await startReplica({ files: FILES, primaryPort: primary.port, slot: standbySlot(0), role: "standby", ...pgpass() });
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        standby = r.server;
    });

    after(() => {
        for (const s of [reborn, standby, primary]) {
            try {
                s?.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
        for (const d of volumes) {
            fs.rmSync(d, { recursive: true, force: true });
        }
    });

    it("the first boot (no primary answers, no standby Ready): leaves the volume to the entrypoint's initdb", async () => {
        const v = await emptyPrimaryStart(await freePort());
        assert.strictEqual(v.run.status, 0, v.run.stderr);
        assert.strictEqual(
            v.run.stderr,
            "replica-start: empty volume, no primary behind 127.0.0.1 and no Ready standby behind postgres-ro.hanzo.invalid: the first boot; the entrypoint initdb's\n",
        );
        assert.strictEqual(v.initialized, false);
    });

    it("the primary lost before a promotion: refuses the empty volume while a standby is Ready", async () => {
        primary.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", primary.dataDir, "-m", "immediate", "-w", "stop"]);
        const v = await emptyPrimaryStart(primary.port, "127.0.0.1");
        assert.strictEqual(v.run.status, 1);
        assert.strictEqual(v.run.stderr, REFUSED);
        assert.strictEqual(v.initialized, false);
        // Nothing written: no data directory, no clone in progress.
        assert.deepStrictEqual(fs.readdirSync(v.dir).sort(), ["conf", "run", "secrets"]);
        // The standby kept its data, and serves it.
        assert.strictEqual(one(standby, "SELECT count(*) FROM t", "app"), "500");
    });

    it("after the promotion: clones the empty volume as the new primary's standby through slot postgres_0", async () => {
        standby.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", standby.dataDir, "-w", "promote"]);
        standby.psql("INSERT INTO t SELECT generate_series(501, 700);", {}, "app");
        const v = await emptyPrimaryStart(standby.port, "127.0.0.1");
        assert.strictEqual(v.run.status, 0, v.run.stderr);
        assert.ok(
            v.run.stderr.startsWith(
                "replica-start: empty volume of the primary's pod while a primary answers behind 127.0.0.1 (a failover happened): " +
                    "cloning it into slot postgres_0 as its standby; label this pod hanzo.ai/role=standby\n",
            ),
            v.run.stderr,
        );
        assert.ok(fs.existsSync(path.join(v.dir, "data", "standby.signal")));
        reborn = PgServer.attach(v.dir, v.port, primary.adminPassword);
        reborn.resume();
        assert.strictEqual(one(reborn, "SELECT pg_is_in_recovery()"), "t");
        await until(
            "the clone to stream",
            () =>
                one(standby, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'postgres_0' AND state = 'streaming'") ===
                "1",
        );
        assert.strictEqual(one(standby, "SELECT slot_name, slot_type, active FROM pg_replication_slots"), "postgres_0|physical|t");
        standby.psql("INSERT INTO t VALUES (701);", {}, "app");
        const lsn = one(standby, "SELECT pg_current_wal_lsn()");
        await until("the clone to replay", () => one(reborn!, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`) === "t");
        assert.strictEqual(one(reborn, "SELECT count(*), max(id) FROM t", "app"), "701|701");
    });
});
