/**
 * The slots of standbys a stack no longer declares are dropped where the engine runs something (issue 24,
 * docs/standbys.md "Removing standbys"), on real servers (PostgreSQL 15, loopback as the pod network):
 * - `standbys: 2 → 1`: a standby's start (render/scripts/replica-start.sh, DECLARED_STANDBYS=1) drops
 *   `postgres_standby_1` on the primary once no standby holds it, and keeps it while one does (the server refuses
 *   to drop an active slot);
 * - `standbys: → 0`: the primary's apply-admin-password init container (render/adminPassword.ts, DECLARED_STANDBYS
 *   unset) drops every `postgres_standby_<i>` slot, keeps other slots, and drops nothing while the read Service
 *   resolves (a standby is Ready).
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { REPLICATION_ROLE, ReplicationSpec, standbySlot } from "../../policies/standard/replication";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../../render/adminPassword";
import { pgpassAnyHost } from "../../render/connection";
import { scramVerifier } from "../../render/scram";
import { ReplicaOptions, runStartScript, startReplica } from "../harness/pg/replica";
import { ADMIN, PG_BIN, PgServer, registerSecret } from "../harness/pg/server";
import { replicationFiles } from "../support/replication";
import { until } from "../support/until";

const SPEC: ReplicationSpec = { standbys: 2, synchronousStandbys: 0 };
const FILES = replicationFiles(SPEC);

const one = (s: PgServer, sql: string, database = "postgres") =>
    s.psql(`\\pset tuples_only on\n\\pset format unaligned\n${sql}`, {}, database).trim();
/** A fast shutdown that keeps the server's files (PgServer.stop removes them). */
const halt = (s: PgServer) => s.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", s.dataDir, "-m", "fast", "-w", "stop"]);
const slots = (s: PgServer) => one(s, "SELECT string_agg(slot_name || ':' || active, ' ' ORDER BY slot_name) FROM pg_replication_slots");

describe("the slots of standbys the stack no longer declares are dropped (real servers)", function () {
    this.timeout(300_000);
    let primary: PgServer;
    const standbys: PgServer[] = [];
    const replicationPassword = randomBytes(24).toString("base64url");
    registerSecret(replicationPassword, REPLICATION_ROLE);
    const options = (ordinal: number, declaredStandbys: number): ReplicaOptions => ({
        files: FILES,
        primaryPort: primary.port,
        slot: standbySlot(ordinal),
        role: "standby",
        replicationPgpass: pgpassAnyHost("replication", REPLICATION_ROLE, replicationPassword),
        adminPgpass: `*:*:*:${ADMIN}:${primary.adminPassword}`,
        adminPassword: primary.adminPassword,
        declaredStandbys,
    });
    const streaming = (n: number) => () => one(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") === String(n);

    /** The primary's init container, as the pod runs it before the server starts (the server stopped cleanly first). */
    const runInit = (env: Record<string, string>) => {
        halt(primary);
        const script = path.join(primary.dir, "apply-admin-password.sh");
        fs.writeFileSync(script, APPLY_ADMIN_PASSWORD_SCRIPT, { mode: 0o755 });
        const vars = {
            PATH: `${PG_BIN}:/usr/bin:/bin`,
            PGDATA: primary.dataDir,
            PG_CONFIG_FILE: primary.configFile,
            PG_HBA_FILE: primary.hbaFile,
            HANZO_ADMIN_VERIFIER: scramVerifier(primary.adminPassword, randomBytes(16).toString("base64")),
            ...env,
        };
        const r = primary.runAsPostgres("env", ["-i", ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), "bash", script]);
        primary.resume();
        return r;
    };

    before(async () => {
        primary = await PgServer.start(FILES);
        const verifier = scramVerifier(replicationPassword, randomBytes(16).toString("base64"));
        primary.psql(
            `CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '${verifier}';`,
        );
        for (const ordinal of [0, 1]) {
            const r = await startReplica(options(ordinal, 2));
            assert.strictEqual(r.run.status, 0, r.run.stderr);
            standbys.push(r.server);
        }
        await until("both standbys to stream", streaming(2));
    });

    after(() => {
        for (const s of [...standbys, primary]) {
            try {
                s?.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
    });

    it("standbys 2 → 1: a standby's start keeps postgres_standby_1 while its standby streams, and drops it once that pod is gone", async () => {
        const [s0, s1] = standbys;
        assert.strictEqual(slots(primary), "postgres_standby_0:true postgres_standby_1:true");
        // postgres-standby-0 restarts with the new count while postgres-standby-1 still streams.
        halt(s0);
        const early = runStartScript(s0.dir, options(0, 1));
        assert.strictEqual(early.status, 0, early.stderr);
        const pid = one(primary, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'postgres_standby_1'");
        assert.strictEqual(
            early.stderr,
            `replica-start: kept the slot postgres_standby_1 on the primary: replication slot "postgres_standby_1" is active for PID ${pid}\n`,
        );
        s0.resume();
        await until("postgres-standby-0 to stream again", streaming(2));
        assert.strictEqual(slots(primary), "postgres_standby_0:true postgres_standby_1:true");
        // The StatefulSet removes postgres-standby-1 (scaling before updates), then rolls postgres-standby-0.
        halt(s1);
        await until("the primary to see postgres-standby-1 gone", streaming(1));
        halt(s0);
        const late = runStartScript(s0.dir, options(0, 1));
        assert.strictEqual(late.status, 0, late.stderr);
        assert.strictEqual(
            late.stderr,
            "replica-start: dropped the slot postgres_standby_1 on the primary: the stack declares 1 standbys\n",
        );
        s0.resume();
        await until("postgres-standby-0 to stream again", streaming(1));
        assert.strictEqual(slots(primary), "postgres_standby_0:true");
    });

    it("standbys → 0: the primary's init container drops the standbys' slots (none while a standby is Ready), and no other slot", async () => {
        const [s0] = standbys;
        // A slot that is not a standby's (another tool's) and one of a higher ordinal left from an older stack.
        primary.psql(
            "SELECT pg_create_physical_replication_slot('other_tool'); SELECT pg_create_physical_replication_slot('postgres_standby_4');",
        );
        // Still declared (standbys: 1): only the undeclared ordinal goes, even with no standby Ready.
        const declared = runInit({ DECLARED_STANDBYS: "1", STANDBYS_HOST: "postgres-ro.hanzo.invalid" });
        assert.strictEqual(declared.status, 0, declared.stderr);
        assert.strictEqual(
            declared.stdout,
            "apply-admin-password: dropped the slot postgres_standby_4: the stack declares 1 standbys\n" +
                "apply-admin-password: the administrator's password is the Secret's\n",
        );
        assert.strictEqual(
            one(primary, "SELECT string_agg(slot_name, ' ' ORDER BY slot_name) FROM pg_replication_slots"),
            "other_tool postgres_standby_0",
        );
        await until("postgres-standby-0 to stream again", streaming(1));
        // standbys: 0, but a standby is still Ready behind the read Service (its StatefulSet not deleted yet): nothing dropped.
        const ready = runInit({ STANDBYS_HOST: "127.0.0.1" });
        assert.strictEqual(ready.status, 0, ready.stderr);
        assert.strictEqual(
            ready.stdout,
            "apply-admin-password: a standby is Ready behind 127.0.0.1: no slot is dropped here\n" +
                "apply-admin-password: the administrator's password is the Secret's\n",
        );
        await until("postgres-standby-0 to stream again", streaming(1));
        assert.strictEqual(slots(primary), "other_tool:false postgres_standby_0:true");
        // The StatefulSet deleted (the removal procedure), then `up` rolls the primary with standbys: 0.
        halt(s0);
        const removed = runInit({ STANDBYS_HOST: "postgres-ro.hanzo.invalid" });
        assert.strictEqual(removed.status, 0, removed.stderr);
        assert.strictEqual(
            removed.stdout,
            "apply-admin-password: dropped the slot postgres_standby_0: the stack declares 0 standbys\n" +
                "apply-admin-password: the administrator's password is the Secret's\n",
        );
        assert.strictEqual(slots(primary), "other_tool:false");
    });
});
