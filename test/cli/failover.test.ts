/**
 * `npm run failover` (cli/failover.ts): the exact kubectl command lines it issues, in order, and where it stops.
 * kubectl cannot run here (no API server), so each case gives the answers a cluster would give to exactly those
 * command lines; an unexpected command line fails the case. What the same command lines do to real pods is
 * test/pods/standby.test.ts (the kubectl argv interpreted on the pod runner).
 */
import * as assert from "assert";
import {
    FailoverError,
    Kubectl,
    KubectlResult,
    RejoinPendingError,
    SERVER_PODS,
    argv,
    failover,
    parseSynchronousStandbyNames,
} from "../../cli/failover";
import { HELD_WAL_SQL, createSlotsStatements, lsnValue, mostAdvanced } from "../../policies/standard/promotion";

const NS = "hanzo";
const ok = (stdout = ""): KubectlResult => ({ status: 0, stdout: `${stdout}\n`, stderr: "" });
const notFound = (pod: string): KubectlResult => ({
    status: 1,
    stdout: "",
    stderr: `Error from server (NotFound): pods "${pod}" not found\n`,
});

const READ_TARGET =
    "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.pg_last_wal_receive_lsn() IS NOT NULL, pg_catalog.current_setting('synchronous_standby_names')";
const SETTLED =
    "SELECT coalesce((SELECT status FROM pg_catalog.pg_stat_wal_receiver), ''), " +
    "pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn()";
/** Two polls of a target that streams from nobody and has replayed what it holds (the wait before the promotion). */
const settled = (pod: string, received = "0/A000010", replayed = received): [readonly string[], KubectlResult][] => [
    [argv.sql(NS, pod, [SETTLED]), ok(`|${received}|${replayed}`)],
    [argv.sql(NS, pod, [SETTLED]), ok(`|${received}|${replayed}`)],
];
const IN_RECOVERY = "SELECT pg_catalog.pg_is_in_recovery()";
/** The wait after a pg_promote that returned false: done yet, else asked again (pg_promote(false)). */
const PROMOTED_YET = "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NOT pg_catalog.pg_promote(false) ELSE true END";

/**
 * The look-up of the other server pods (every one a stack can have but the target and postgres-0), each answered
 * from `answers` (a Ready condition) or NotFound.
 */
function survey(to: string, answers: Record<string, string> = {}): [readonly string[], KubectlResult][] {
    assert.deepStrictEqual(SERVER_PODS, [
        "postgres-0",
        "postgres-standby-0",
        "postgres-standby-1",
        "postgres-standby-2",
        "postgres-standby-3",
        "postgres-standby-4",
    ]);
    return SERVER_PODS.filter((p) => p !== to && p !== "postgres-0").map((p) => [
        argv.ready(NS, p),
        p in answers ? ok(answers[p]) : notFound(p),
    ]);
}

/** A cluster that answers exactly `script`'s command lines, in order. */
function scripted(script: [readonly string[], KubectlResult][]): { kubectl: Kubectl; calls: string[][] } {
    const calls: string[][] = [];
    const kubectl: Kubectl = async (args) => {
        calls.push([...args]);
        const next = script.shift();
        if (!next) {
            throw new Error(`unexpected: kubectl ${args.join(" ")}`);
        }
        assert.deepStrictEqual(args, next[0]);
        return next[1];
    };
    return { kubectl, calls };
}

async function run(
    script: [readonly string[], KubectlResult][],
    accept = false,
    to = "postgres-standby-0",
    oldPrimaryDown = false,
): Promise<{ log: string[]; error?: string; left: number; rejoinPending?: boolean }> {
    const { kubectl } = scripted(script);
    const log: string[] = [];
    try {
        await failover({
            namespace: NS,
            from: "postgres-0",
            to,
            acceptWaitingWrites: accept,
            oldPrimaryDown,
            kubectl,
            log: (l) => log.push(l),
            pause: async () => undefined,
            polls: 3,
        });
        return { log, left: script.length };
    } catch (e) {
        assert.ok(e instanceof FailoverError, String(e));
        return { log, error: e.message, left: script.length, ...(e instanceof RejoinPendingError ? { rejoinPending: true } : {}) };
    }
}

describe("npm run failover: the kubectl command lines it runs, and what it refuses", () => {
    it("builds each command line exactly: psql as the administrator in the server container, the role label, readiness", () => {
        assert.deepStrictEqual(argv.sql(NS, "postgres-standby-0", ["SELECT 1", "CHECKPOINT"]), [
            "-n",
            "hanzo",
            "exec",
            "postgres-standby-0",
            "-c",
            "postgres",
            "--",
            "env",
            "PGOPTIONS=-c search_path=pg_catalog,pg_temp",
            "psql",
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "hanzo",
            "-d",
            "postgres",
            "-c",
            "SELECT 1",
            "-c",
            "CHECKPOINT",
        ]);
        assert.deepStrictEqual(argv.label(NS, "postgres-0", "fenced"), [
            "-n",
            "hanzo",
            "label",
            "pod",
            "postgres-0",
            "hanzo.ai/role=fenced",
            "--overwrite",
        ]);
        assert.deepStrictEqual(argv.stop(NS, "postgres-0"), [
            "-n",
            "hanzo",
            "exec",
            "postgres-0",
            "-c",
            "postgres",
            "--",
            "bash",
            "-c",
            'pg_ctl -D "$PGDATA" -m fast -w stop',
        ]);
        assert.deepStrictEqual(argv.ready(NS, "postgres-0"), [
            "-n",
            "hanzo",
            "get",
            "pod",
            "postgres-0",
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        assert.deepStrictEqual(argv.waitReady(NS, "postgres-0"), [
            "-n",
            "hanzo",
            "wait",
            "--for=condition=Ready",
            "pod/postgres-0",
            "--timeout=300s",
        ]);
        assert.deepStrictEqual(argv.deletePod(NS, "postgres-0"), ["-n", "hanzo", "delete", "pod", "postgres-0", "--wait=true"]);
    });

    it("parses synchronous_standby_names as PostgreSQL does (ANY/FIRST k (…), a bare list is FIRST 1)", () => {
        assert.deepStrictEqual(parseSynchronousStandbyNames("ANY 1 (postgres_0, postgres_standby_0)"), {
            k: 1,
            members: ["postgres_0", "postgres_standby_0"],
        });
        assert.deepStrictEqual(parseSynchronousStandbyNames('FIRST 2 ("postgres_0",postgres_standby_1)'), {
            k: 2,
            members: ["postgres_0", "postgres_standby_1"],
        });
        assert.deepStrictEqual(parseSynchronousStandbyNames("postgres_0, postgres_standby_0"), {
            k: 1,
            members: ["postgres_0", "postgres_standby_0"],
        });
        assert.strictEqual(parseSynchronousStandbyNames(""), undefined);
    });

    it("refuses a target that is not a standby before changing anything", async () => {
        const primary = await run([[argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("f|f|")]]);
        assert.deepStrictEqual(primary, {
            log: [],
            error: "postgres-standby-0 is not a standby (pg_is_in_recovery() = f): nothing to promote",
            left: 0,
        });
    });

    it("a target restarted while no primary answers (nothing received since its start) is promoted once its replay settles, and says so", async () => {
        // pg_last_wal_receive_lsn() is NULL there (psql prints an empty field): the wait compares what it replayed.
        const done = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|f|")],
            ...survey("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            [argv.sql(NS, "postgres-standby-0", [SETTLED]), ok("||0/9FFFFF8")],
            ...settled("postgres-standby-0", "", "0/A000010"),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
            [argv.label(NS, "postgres-standby-0", "primary"), { status: 1, stdout: "", stderr: "stopped here\n" }],
        ]);
        assert.deepStrictEqual(done.log, [
            "failover: postgres-standby-0 has received no WAL since its server started: what it holds is what it replayed",
            "failover: postgres-0 does not exist: nothing to fence",
            "failover: postgres-standby-0 promoted (CHECKPOINT done)",
        ]);
        assert.strictEqual(done.left, 0);
    });

    it("a promotion that outlasts pg_promote's 60 s (restore_command waiting on the archive) is waited for, then CHECKPOINT", async () => {
        const done = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|")],
            ...survey("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            ...settled("postgres-standby-0"),
            // pg_promote returns false and psql goes on: CHECKPOINT in recovery is a restartpoint, no error.
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("f")],
            [argv.sql(NS, "postgres-standby-0", [PROMOTED_YET]), ok("f")],
            [argv.sql(NS, "postgres-standby-0", [PROMOTED_YET]), ok("t")],
            [argv.sql(NS, "postgres-standby-0", ["CHECKPOINT"]), ok()],
            [argv.label(NS, "postgres-standby-0", "primary"), { status: 1, stdout: "", stderr: "stopped here\n" }],
        ]);
        assert.deepStrictEqual(done, {
            log: [
                "failover: postgres-0 does not exist: nothing to fence",
                "failover: postgres-standby-0 still in recovery after pg_promote's 60 s (restore_command waiting on the archive?): waiting",
                "failover: postgres-standby-0 promoted (CHECKPOINT done)",
            ],
            error: `labelling postgres-standby-0: kubectl ${argv.label(NS, "postgres-standby-0", "primary").join(" ")} exited 1: stopped here`,
            left: 0,
        });
    });

    it("refuses a synchronous quorum no other Ready member can meet, unless --accept-waiting-writes", async () => {
        const names = "ANY 1 (postgres_0, postgres_standby_0, postgres_standby_1)";
        const refused = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok(`t|t|${names}`)],
            ...survey("postgres-standby-0", { "postgres-standby-1": "False" }),
        ]);
        assert.deepStrictEqual(refused, {
            log: [],
            error:
                `synchronous_standby_names = '${names}' needs 1 standby(s) to acknowledge each commit, and after the failover no other member is Ready: ` +
                "writes on postgres-standby-0 would wait until postgres-0 rejoins; pass --accept-waiting-writes to go on",
            left: 0,
        });
        // The same with the other standby Ready: it goes on (to the fence, where this case stops it).
        const ready = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok(`t|t|${names}`)],
            ...survey("postgres-standby-0", { "postgres-standby-1": "True" }),
            [argv.ready(NS, "postgres-0"), { status: 1, stdout: "", stderr: "Unable to connect to the server\n" }],
        ]);
        assert.strictEqual(
            ready.error,
            `reading pod postgres-0: kubectl ${argv.ready(NS, "postgres-0").join(" ")} exited 1: Unable to connect to the server`,
        );
    });

    it("a gone primary: no fence needed; waits for the replay, promotes + CHECKPOINT, relabels, waits Ready, rejoins the recreated pod", async () => {
        const done = await run(
            [
                [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|ANY 1 (postgres_0, postgres_standby_0)")],
                ...survey("postgres-standby-0"),
                [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
                // The stream ended inside a record: replay stays short of what was received, and settles there.
                [argv.sql(NS, "postgres-standby-0", [SETTLED]), ok("waiting|0/A000100|0/A0000C8")],
                ...settled("postgres-standby-0", "0/A000100", "0/A0000E8"),
                [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
                [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
                [argv.label(NS, "postgres-standby-0", "primary"), ok("pod/postgres-standby-0 labeled")],
                [argv.waitReady(NS, "postgres-standby-0"), ok("pod/postgres-standby-0 condition met")],
                // The StatefulSet recreates postgres-0; its start script rewinds it (exec fails while it starts).
                [argv.sql(NS, "postgres-0", [IN_RECOVERY]), { status: 1, stdout: "", stderr: "container not found\n" }],
                [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("t")],
                [argv.label(NS, "postgres-0", "standby"), ok("pod/postgres-0 labeled")],
                [argv.waitReady(NS, "postgres-0"), ok("pod/postgres-0 condition met")],
            ],
            true,
        );
        assert.deepStrictEqual(done, {
            log: [
                "failover: synchronous_standby_names = 'ANY 1 (postgres_0, postgres_standby_0)' needs 1 standby(s) to acknowledge each commit, and after the failover no other member is Ready: writes on postgres-standby-0 would wait until postgres-0 rejoins (accepted)",
                "failover: postgres-0 does not exist: nothing to fence",
                "failover: postgres-standby-0 promoted (CHECKPOINT done)",
                "failover: postgres-standby-0 labelled hanzo.ai/role=primary and Ready: postgres selects it",
                "failover: postgres-0 rejoined as a standby of postgres-standby-0 and is Ready (postgres-ro)",
            ],
            left: 0,
        });
    });

    it("a primary still running: fenced, stopped cleanly, then deleted for its rejoin; a target that keeps streaming is never promoted", async () => {
        const common: [readonly string[], KubectlResult][] = [
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|")],
            ...survey("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), ok("True")],
            [argv.label(NS, "postgres-0", "fenced"), ok("pod/postgres-0 labeled")],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("f")],
            [argv.stop(NS, "postgres-0"), ok("waiting for server to shut down.... done")],
        ];
        const stuck = await run([
            ...common,
            [argv.sql(NS, "postgres-standby-0", [SETTLED]), ok("streaming|0/A000010|0/A000010")],
            [argv.sql(NS, "postgres-standby-0", [SETTLED]), ok("streaming|0/A000010|0/A000010")],
            [argv.sql(NS, "postgres-standby-0", [SETTLED]), ok("streaming|0/A000010|0/A000010")],
        ]);
        assert.deepStrictEqual(stuck, {
            log: [
                "failover: postgres-0 labelled hanzo.ai/role=fenced: in no Service",
                "failover: postgres-0's server stopped (pg_ctl -m fast; the exec exited 0)",
            ],
            error: "gave up waiting: postgres-standby-0 to stream from no primary and replay all it holds",
            left: 0,
        });
        const done = await run([
            ...common,
            ...settled("postgres-standby-0"),
            [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
            [argv.label(NS, "postgres-standby-0", "primary"), ok("pod/postgres-standby-0 labeled")],
            [argv.waitReady(NS, "postgres-standby-0"), ok("condition met")],
            [argv.deletePod(NS, "postgres-0"), ok('pod "postgres-0" deleted')],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("t")],
            [argv.label(NS, "postgres-0", "standby"), ok("pod/postgres-0 labeled")],
            [argv.waitReady(NS, "postgres-0"), ok("condition met")],
        ]);
        assert.strictEqual(done.error, undefined);
        assert.strictEqual(done.left, 0);
    });

    it("an old primary that never comes back (its node gone): the failover is said to be done, and the label to set later is named", async () => {
        const notBack = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|")],
            ...survey("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            ...settled("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
            [argv.label(NS, "postgres-standby-0", "primary"), ok("pod/postgres-standby-0 labeled")],
            [argv.waitReady(NS, "postgres-standby-0"), ok("condition met")],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), notFound("postgres-0")],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), notFound("postgres-0")],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), notFound("postgres-0")],
        ]);
        assert.deepStrictEqual(notBack, {
            log: [
                "failover: postgres-0 does not exist: nothing to fence",
                "failover: postgres-standby-0 promoted (CHECKPOINT done)",
                "failover: postgres-standby-0 labelled hanzo.ai/role=primary and Ready: postgres selects it",
            ],
            error:
                "gave up waiting: postgres-0 to come back as a standby of postgres-standby-0 " +
                `(last: reading postgres-0: kubectl ${argv.sql(NS, "postgres-0", [IN_RECOVERY]).join(" ")} exited 1: Error from server (NotFound): pods "postgres-0" not found). ` +
                "The failover itself is done: postgres-standby-0 is the primary, " +
                "Ready behind postgres. When postgres-0 runs again its start script rewinds or clones it as a standby; then: " +
                "kubectl -n hanzo label pod postgres-0 hanzo.ai/role=standby --overwrite",
            left: 0,
            rejoinPending: true,
        });
    });

    it("an old primary whose pod exists but whose server no exec reaches: refused, fenced, nothing promoted; with --old-primary-down, promoted", async () => {
        const unreachable = { status: 1, stdout: "", stderr: 'error: unable to upgrade connection: container not found ("postgres")\n' };
        const head: [readonly string[], KubectlResult][] = [
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|")],
            ...survey("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), ok("False")],
            [argv.label(NS, "postgres-0", "fenced"), ok("pod/postgres-0 labeled")],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), unreachable],
        ];
        assert.deepStrictEqual(await run([...head]), {
            log: ["failover: postgres-0 labelled hanzo.ai/role=fenced: in no Service"],
            error:
                'postgres-0\'s server answers no exec (kubectl exec exited 1: error: unable to upgrade connection: container not found ("postgres")): ' +
                "it may still serve the connections it has; nothing was promoted (postgres-0 stays fenced). Once its server or its node is known to be down, " +
                "run again with --old-primary-down",
            left: 0,
        });
        const down = await run(
            [
                ...head,
                ...settled("postgres-standby-0"),
                [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
                [argv.label(NS, "postgres-standby-0", "primary"), { status: 1, stdout: "", stderr: "stopped here\n" }],
            ],
            false,
            "postgres-standby-0",
            true,
        );
        assert.deepStrictEqual(down.log, [
            "failover: postgres-0 labelled hanzo.ai/role=fenced: in no Service",
            "failover: postgres-0's server answers no exec (exit 1); --old-primary-down: taken as down",
            "failover: postgres-standby-0 promoted (CHECKPOINT done)",
        ]);
        assert.strictEqual(down.left, 0);
    });

    it("an old primary recreated by its StatefulSet during the failover is fenced before the promotion; one back as a primary in step 4 is fenced and stopped again", async () => {
        const done = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|")],
            ...survey("postgres-standby-0"),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            ...settled("postgres-standby-0"),
            // Recreated meanwhile, started as a primary (no primary answered it): fenced and stopped first.
            [argv.ready(NS, "postgres-0"), ok("True")],
            [argv.label(NS, "postgres-0", "fenced"), ok("pod/postgres-0 labeled")],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("f")],
            [argv.stop(NS, "postgres-0"), { status: 137, stdout: "", stderr: "" }],
            [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
            [argv.label(NS, "postgres-standby-0", "primary"), ok("pod/postgres-standby-0 labeled")],
            [argv.waitReady(NS, "postgres-standby-0"), ok("condition met")],
            [argv.deletePod(NS, "postgres-0"), ok('pod "postgres-0" deleted')],
            // Its restart came up as a primary again (the new primary not reachable then): fenced and stopped.
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("f")],
            [argv.label(NS, "postgres-0", "fenced"), ok("pod/postgres-0 labeled")],
            [argv.stop(NS, "postgres-0"), { status: 137, stdout: "", stderr: "" }],
            [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("t")],
            [argv.label(NS, "postgres-0", "standby"), ok("pod/postgres-0 labeled")],
            [argv.waitReady(NS, "postgres-0"), ok("condition met")],
        ]);
        assert.deepStrictEqual(done, {
            log: [
                "failover: postgres-0 does not exist: nothing to fence",
                "failover: postgres-0 labelled hanzo.ai/role=fenced: in no Service",
                "failover: postgres-0's server stopped (pg_ctl -m fast; the exec exited 137)",
                "failover: postgres-0 was recreated meanwhile: fenced before the promotion",
                "failover: postgres-standby-0 promoted (CHECKPOINT done)",
                "failover: postgres-standby-0 labelled hanzo.ai/role=primary and Ready: postgres selects it",
                "failover: postgres-0 came back as a primary: fenced and stopped (the exec exited 137); its next start rewinds it",
                "failover: postgres-0 rejoined as a standby of postgres-standby-0 and is Ready (postgres-ro)",
            ],
            left: 0,
        });
    });

    it("compares WAL locations as numbers and writes the slot statements exactly (policies/standard/promotion.ts)", () => {
        assert.strictEqual(lsnValue("0/16B3748"), 0x16b3748n);
        assert.strictEqual(lsnValue("1/0"), 2n ** 32n);
        // As text "0/9" > "0/10"; as locations the opposite.
        assert.ok(lsnValue("0/10") > lsnValue("0/9"));
        assert.throws(() => lsnValue("16B3748"), /not a WAL location \(pg_lsn\): '16B3748'/);
        assert.strictEqual(mostAdvanced({ a: "0/9", b: "0/10", c: "0/10" }), "b");
        assert.strictEqual(mostAdvanced({}), undefined);
        assert.deepStrictEqual(createSlotsStatements(["postgres_standby_1", "postgres_0"]), [
            "SET synchronous_commit = local",
            "SELECT pg_catalog.count(pg_catalog.pg_create_physical_replication_slot(s, true)) FROM pg_catalog.unnest(ARRAY['postgres_standby_1', 'postgres_0']::pg_catalog.text[]) AS s " +
                "WHERE s OPERATOR(pg_catalog.<>) ALL (SELECT slot_name::pg_catalog.text FROM pg_catalog.pg_replication_slots)",
        ]);
        assert.throws(() => createSlotsStatements(["x'; DROP"]), /not a replication slot name: 'x'; DROP'/);
    });

    const THREE = "ANY 1 (postgres_0, postgres_standby_0, postgres_standby_1)";

    it("two standbys, the primary gone: refuses a target holding less WAL than another Ready standby, naming it, before promoting", async () => {
        const refused = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok(`t|t|${THREE}`)],
            ...survey("postgres-standby-0", { "postgres-standby-1": "True" }),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            ...settled("postgres-standby-0"),
            [argv.sql(NS, "postgres-standby-0", [HELD_WAL_SQL]), ok("0/9FFFFF8")],
            [argv.sql(NS, "postgres-standby-1", [HELD_WAL_SQL]), ok("0/A000010")],
        ]);
        assert.deepStrictEqual(refused, {
            log: ["failover: postgres-0 does not exist: nothing to fence"],
            error:
                "postgres-standby-1 holds more WAL (0/A000010) than postgres-standby-0 (0/9FFFFF8): an acknowledged commit may be on postgres-standby-1 only; " +
                "nothing was promoted; run: npm run failover -- --to postgres-standby-1 --from postgres-0",
            left: 0,
        });
    });

    it("two standbys: promotes the one holding the most WAL, then creates the other standby's slot on it before the relabel", async () => {
        const done = await run(
            [
                [argv.sql(NS, "postgres-standby-1", [READ_TARGET]), ok(`t|t|${THREE}`)],
                ...survey("postgres-standby-1", { "postgres-standby-0": "True" }),
                [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
                ...settled("postgres-standby-1"),
                [argv.sql(NS, "postgres-standby-1", [HELD_WAL_SQL]), ok("0/A000010")],
                [argv.sql(NS, "postgres-standby-0", [HELD_WAL_SQL]), ok("0/A000010")],
                [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
                [argv.sql(NS, "postgres-standby-1", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
                [argv.sql(NS, "postgres-standby-1", createSlotsStatements(["postgres_standby_0"])), ok("1")],
                [argv.label(NS, "postgres-standby-1", "primary"), ok("pod/postgres-standby-1 labeled")],
                [argv.waitReady(NS, "postgres-standby-1"), ok("condition met")],
                [argv.sql(NS, "postgres-0", [IN_RECOVERY]), ok("t")],
                [argv.label(NS, "postgres-0", "standby"), ok("pod/postgres-0 labeled")],
                [argv.waitReady(NS, "postgres-0"), ok("condition met")],
            ],
            false,
            "postgres-standby-1",
        );
        assert.deepStrictEqual(done, {
            log: [
                "failover: postgres-0 does not exist: nothing to fence",
                "failover: postgres-standby-1 holds the most WAL (postgres-standby-1 0/A000010, postgres-standby-0 0/A000010)",
                "failover: postgres-standby-1 promoted (CHECKPOINT done)",
                "failover: the slots postgres_standby_0 exist on postgres-standby-1 (1 created)",
                "failover: postgres-standby-1 labelled hanzo.ai/role=primary and Ready: postgres selects it",
                "failover: postgres-0 rejoined as a standby of postgres-standby-1 and is Ready (postgres-ro)",
            ],
            left: 0,
        });
    });

    it("a standby that exists but is not Ready gets its slot, and is not a candidate", async () => {
        const done = await run([
            [argv.sql(NS, "postgres-standby-0", [READ_TARGET]), ok("t|t|")],
            ...survey("postgres-standby-0", { "postgres-standby-1": "False", "postgres-standby-2": "True" }),
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            ...settled("postgres-standby-0"),
            [argv.sql(NS, "postgres-standby-0", [HELD_WAL_SQL]), ok("1/0")],
            [argv.sql(NS, "postgres-standby-2", [HELD_WAL_SQL]), ok("0/FFFFFFFF")],
            [argv.ready(NS, "postgres-0"), notFound("postgres-0")],
            [argv.sql(NS, "postgres-standby-0", ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]), ok("t")],
            [argv.sql(NS, "postgres-standby-0", createSlotsStatements(["postgres_standby_1", "postgres_standby_2"])), ok("2")],
            [argv.label(NS, "postgres-standby-0", "primary"), { status: 1, stdout: "", stderr: "forbidden\n" }],
        ]);
        assert.strictEqual(
            done.error,
            `labelling postgres-standby-0: kubectl ${argv.label(NS, "postgres-standby-0", "primary").join(" ")} exited 1: forbidden`,
        );
        assert.deepStrictEqual(done.log.slice(1), [
            "failover: postgres-standby-0 holds the most WAL (postgres-standby-0 1/0, postgres-standby-2 0/FFFFFFFF)",
            "failover: postgres-standby-0 promoted (CHECKPOINT done)",
            "failover: the slots postgres_standby_1, postgres_standby_2 exist on postgres-standby-0 (2 created)",
        ]);
    });
});
