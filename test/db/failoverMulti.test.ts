/**
 * `npm run failover` (cli/failover.ts) with two standbys, on real servers: a primary with `standbys: 2,
 * synchronousStandbys: 1` (its rendered files), both standbys cloned by the start script, the `postgres` Service a
 * relay (test/harness/local/standbys.ts). The command's own `failover()` runs with its kubectl command lines
 * interpreted on these servers (test/harness/kubectl.ts over the rig's `pod()`): `exec POD -c postgres -- env
 * PGOPTIONS=… psql …` runs that psql on the pod's server (its socket), `label … primary` points the relay at the
 * pod, `get pod` answers Ready for a running server and NotFound for the killed primary, `wait` answers at once. The old primary's rejoin is not run here (its pod is
 * gone; test/db/replication.test.ts and the pod test rejoin a killed primary): the command stops waiting for it.
 *
 * A commit acknowledged by standby 1 alone (standby 0's walreceiver off) then the primary killed: the command
 * refuses standby 0, naming standby 1 and both WAL positions exactly, and promotes nothing; with standby 1 it
 * promotes it and creates standby 0's slot there, so standby 0, turned back on, streams from the new primary
 * through its slot, follows the new timeline and acknowledges synchronous commits. Standby 1 is restarted before its
 * promotion (received nothing since: the command once refused it, and waited for receive = replay forever). Without the slot step it never
 * streams ("replication slot does not exist"): reverting it fails the last case.
 */
import * as assert from "assert";
import { FailoverError, Kubectl, argv, failover } from "../../cli/failover";
import { HELD_WAL_SQL } from "../../policies/standard/promotion";
import { StandbyRig, one, standbyFiles } from "../harness/local/standbys";
import { kubectlOver } from "../harness/kubectl";

const NS = "hanzo";

describe("npm run failover with two standbys, on real servers (the most advanced standby, the other standby's slot)", function () {
    this.timeout(600_000);
    let rig: StandbyRig;
    const log: string[] = [];

    before(async () => {
        rig = await StandbyRig.start({ standbys: 2, synchronousStandbys: 1 });
    });
    after(async () => {
        await rig?.stop();
    });

    /** kubectl, interpreted on the loopback servers (test/harness/kubectl.ts, the rig's pods). */
    const kubectl: Kubectl = kubectlOver(NS, (pod) => rig.pod(pod));
    const run = async (to: string): Promise<string | undefined> => {
        try {
            await failover({
                namespace: NS,
                from: "postgres-0",
                to,
                acceptWaitingWrites: false,
                kubectl,
                log: (l) => log.push(l),
                pause: () => new Promise((r) => setTimeout(r, 100)),
                polls: 100,
            });
            return undefined;
        } catch (e) {
            assert.ok(e instanceof FailoverError, String(e));
            return e.message;
        }
    };
    let conninfo = "";

    it("a commit acknowledged by standby 1 alone, then the primary killed: standby 1 holds more WAL than standby 0", async () => {
        const [s0, s1] = rig.standbys;
        conninfo = one(s0, "SHOW primary_conninfo");
        assert.match(conninfo, /application_name=postgres_standby_0/);
        s0.psql("ALTER SYSTEM SET primary_conninfo = ''; SELECT pg_reload_conf();");
        await rig.until(
            "standby 0 to stop streaming",
            () => one(rig.primary, "SELECT string_agg(application_name, ',') FROM pg_stat_replication") === "postgres_standby_1",
        );
        // synchronous_commit on (the administrator's default is local in a synchronous stack): acknowledged by standby 1.
        rig.primary.psql("SET synchronous_commit = on; CREATE TABLE acked (n int); INSERT INTO acked VALUES (1);");
        rig.killPrimary();
        // Acknowledged means flushed there; it is readable once replayed.
        await rig.until("standby 1 to replay the commit", () => one(s1, "SELECT count(*) FROM pg_class WHERE relname = 'acked'") === "1");
        assert.strictEqual(one(s1, "SELECT count(*) FROM acked"), "1");
        assert.throws(() => one(s0, "SELECT count(*) FROM acked"), /relation "acked" does not exist/);
    });

    it("refuses standby 0, naming standby 1 and both positions, and promotes nothing", async () => {
        const [s0, s1] = rig.standbys;
        const held0 = one(s0, HELD_WAL_SQL);
        const held1 = one(s1, HELD_WAL_SQL);
        const error = await run("postgres-standby-0");
        assert.strictEqual(
            error,
            `postgres-standby-1 holds more WAL (${held1}) than postgres-standby-0 (${held0}): an acknowledged commit may be on postgres-standby-1 only; ` +
                "nothing was promoted; run: npm run failover -- --to postgres-standby-1 --from postgres-0",
        );
        assert.deepStrictEqual(log.splice(0), ["failover: postgres-0 does not exist: nothing to fence"]);
        assert.strictEqual(one(s0, "SELECT pg_is_in_recovery()"), "t");
        assert.strictEqual(one(s1, "SELECT pg_is_in_recovery()"), "t");
    });

    it("promotes standby 1 (restarted meanwhile: it received nothing since), creates standby 0's slot on it, relabels; standby 0 then streams from it and acknowledges commits", async () => {
        const [s0, s1] = rig.standbys;
        // Its pod restarted while no primary answers. It still holds the acknowledged commit (replayed, on its
        // volume), but pg_last_wal_receive_lsn() no longer says so: NULL from its start, then, once recovery asks for
        // streaming, the start of the segment it would stream from — behind what it replayed, for good. (The command
        // once waited for receive = replay, and gave up.)
        s1.restart(standbyFiles(rig.spec));
        await rig.until("standby 1 to ask for streaming again", () => one(s1, "SELECT pg_last_wal_receive_lsn() IS NOT NULL") === "t");
        assert.strictEqual(one(s1, "SELECT pg_last_wal_receive_lsn() < pg_last_wal_replay_lsn() AND pg_is_in_recovery()"), "t");
        const held0 = one(s0, HELD_WAL_SQL);
        const held1 = one(s1, HELD_WAL_SQL);
        const error = await run("postgres-standby-1");
        // Its rejoin is not run here: the command waits for postgres-0 and gives up.
        assert.strictEqual(
            error,
            "gave up waiting: postgres-0 to come back as a standby of postgres-standby-1 " +
                `(last: reading postgres-0: kubectl ${argv.sql(NS, "postgres-0", ["SELECT pg_catalog.pg_is_in_recovery()"]).join(" ")} exited 1: ` +
                'Error from server (NotFound): pods "postgres-0" not found). The failover itself is done: postgres-standby-1 is the primary, ' +
                "Ready behind postgres. When postgres-0 runs again its start script rewinds or clones it as a standby; then: " +
                "kubectl -n hanzo label pod postgres-0 hanzo.ai/role=standby --overwrite",
        );
        assert.strictEqual(one(s1, "SELECT pg_is_in_recovery()"), "f");
        // Standby 0's walreceiver back on: through the Service (now standby 1) and its slot.
        s0.psql(`ALTER SYSTEM SET primary_conninfo = '${conninfo.replace(/'/g, "''")}'; SELECT pg_reload_conf();`);
        await rig.until(
            "standby 0 to stream from the new primary",
            () =>
                one(s1, "SELECT string_agg(application_name || ' ' || state || ' ' || sync_state, ',') FROM pg_stat_replication") ===
                "postgres_standby_0 streaming quorum",
            90,
        );
        assert.strictEqual(
            one(s1, "SELECT string_agg(slot_name || ' ' || slot_type || ' ' || active, ',') FROM pg_replication_slots"),
            "postgres_standby_0 physical true",
        );
        // The acknowledged commit is on the new primary; a synchronous commit there returns (standby 0 acknowledges it).
        s1.psql("SET synchronous_commit = on; INSERT INTO acked VALUES (2);");
        assert.strictEqual(one(s1, "SELECT string_agg(n::text, ',' ORDER BY n) FROM acked"), "1,2");
        // The log last, so that a missing step shows first in what it breaks.
        assert.deepStrictEqual(log.splice(0), [
            "failover: postgres-0 does not exist: nothing to fence",
            `failover: postgres-standby-1 holds the most WAL (postgres-standby-1 ${held1}, postgres-standby-0 ${held0})`,
            "failover: postgres-standby-1 promoted (CHECKPOINT done)",
            "failover: the slots postgres_standby_0 exist on postgres-standby-1 (1 created)",
            "failover: postgres-standby-1 labelled hanzo.ai/role=primary and Ready: postgres selects it",
        ]);
        await rig.until("standby 0 to replay the new timeline", () => one(s0, "SELECT count(*) FROM acked") === "2");
        assert.strictEqual(one(s0, "SELECT received_tli FROM pg_stat_wal_receiver"), "2");
    });
});
