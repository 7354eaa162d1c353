/**
 * npm run failover -- --to postgres-standby-0 [--from postgres-0] [--namespace hanzo] [--accept-waiting-writes] [--old-primary-down]
 *
 * The failover of docs/standbys.md as one command, for a primary that is gone or must go: it runs the documented
 * steps through `kubectl` and checks between them, refusing before it changes anything when the target is not a
 * standby, or when `synchronous_standby_names` would leave commits waiting for a standby no
 * other Ready member can be (unless --accept-waiting-writes). Steps: 1. fence the old primary (label `fenced`; if
 * its server still answers as a primary, a clean stop: every WAL record it wrote reaches the connected standbys
 * before it exits); 2. wait until the target streams from nobody and its replay position stops moving, then promote it
 * and CHECKPOINT (pg_rewind reads the new timeline from its control file); 3. label it `primary` and wait until it
 * is Ready (the `postgres` Service selects it); 4. delete the old primary's pod (its StatefulSet recreates it; its
 * start script rewinds or clones it into a standby of the new primary), wait until it is in recovery, label it
 * `standby`, wait until Ready. Exit 0 done, 1 refused or failed (the step is named), 2 a bad command line, 3 done but
 * the old primary has not rejoined (its node gone…: the label to set later is named). An old primary whose pod exists
 * but whose server no exec reaches is refused unless --old-primary-down (it may still serve its connections); one
 * recreated by its StatefulSet during the failover is fenced before the promotion, and one that comes back as a
 * primary in step 4 is fenced and stopped again.
 * With more than one standby (every server pod, `postgres-0` and `postgres-standby-<i>`, is looked up): before the
 * promotion it refuses a target holding less WAL than another Ready standby, naming the one to choose (`--to` stays
 * required: a person names the server; the command never picks one on its own), and right after it creates the
 * other existing standbys' slots on the new primary (policies/standard/promotion.ts).
 * `KUBECTL` names the kubectl binary (default `kubectl`). It never reads a password: psql runs inside the server
 * container as the administrator over the local socket (trusted there, as role-ready.sh's query).
 */
import { spawn } from "child_process";
import { HELD_WAL_SQL, createSlotsStatements, lsnValue, mostAdvanced } from "../policies/standard/promotion";
import { MAX_STANDBYS, PRIMARY_POD, ROLE_LABEL, slotOfPod, standbyPodName } from "../policies/standard/replication";
import { ADMIN_ROLE } from "../policies/standard/roles";
import { SERVER_CONTAINER } from "../policies/standard/serverPod";
import { PRIVILEGED_PG_OPTIONS } from "../render/privilegedSession";
import { Command, Flag, runCommand } from "./cli";

export const FAILOVER_COMMAND = {
    name: "npm run failover --",
    summary:
        "Promotes a standby in place of a primary that is gone or must go (docs/standbys.md): fence, promote + CHECKPOINT, relabel, wait Ready, " +
        "rejoin the old primary as a standby; with several standbys, the others' slots are created on the new primary. Refuses, before changing " +
        "anything, a target that is not a standby, and a synchronous quorum no Ready member would be left to meet; before the " +
        "promotion, a target holding less WAL than another Ready standby (naming it), and an old primary whose server no exec reaches (unless " +
        "--old-primary-down). Exits 0 done, 1 refused or failed, 2 on a bad command line, 3 promoted and relabelled but the old primary has not rejoined.",
    flags: {
        to: { type: "string", value: "<pod>", required: true, description: "the standby to promote, e.g. postgres-standby-0" },
        from: { type: "string", value: "<pod>", description: "the primary it replaces (default postgres-0)" },
        namespace: { type: "string", value: "<name>", description: "the stack's namespace (default hanzo)" },
        "accept-waiting-writes": {
            type: "boolean",
            description: "go on even when no other Ready member can acknowledge synchronous commits (they wait until one rejoins)",
        },
        "old-primary-down": {
            type: "boolean",
            description:
                "the old primary's pod exists but no exec reaches it (its node is gone): you have made sure its server is down, go on",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

export interface KubectlResult {
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** Runs `kubectl <args>` (the CLI spawns it; the pod test interprets the same argv on the pod runner). */
export type Kubectl = (args: readonly string[]) => Promise<KubectlResult>;

export interface FailoverOptions {
    readonly namespace: string;
    readonly from: string;
    readonly to: string;
    readonly acceptWaitingWrites: boolean;
    /** The operator knows the old primary's server is down (its node gone) although no exec reaches its pod. */
    readonly oldPrimaryDown?: boolean;
    readonly kubectl: Kubectl;
    readonly log: (line: string) => void;
    /** Between polls (default 1 s) and how many polls each wait makes (default 120). */
    readonly pause?: () => Promise<void>;
    readonly polls?: number;
}

/** A step refused or failed: the message names it. */
export class FailoverError extends Error {}

/** The promotion and the relabel are done; only the old primary's rejoin is missing (exit 3). */
export class RejoinPendingError extends FailoverError {}

/** Every server pod a stack can have: the primary's `postgres-0` and `postgres-standby-<i>` up to MAX_STANDBYS. */
export const SERVER_PODS: readonly string[] = [PRIMARY_POD, ...Array.from({ length: MAX_STANDBYS }, (_, i) => standbyPodName(i))];

/** `kubectl exec` of `command` in a pod's server container. */
function execInServer(ns: string, pod: string, command: readonly string[]): string[] {
    return ["-n", ns, "exec", pod, "-c", SERVER_CONTAINER, "--", ...command];
}

/** kubectl's argv for each thing the failover does, exactly (test/cli/failover.test.ts). */
export const argv = {
    /** psql in the server container as the administrator, the privileged search_path on connect. */
    sql: (ns: string, pod: string, statements: readonly string[]) =>
        execInServer(ns, pod, [
            "env",
            `PGOPTIONS=${PRIVILEGED_PG_OPTIONS}`,
            "psql",
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            ADMIN_ROLE,
            "-d",
            "postgres",
            ...statements.flatMap((s) => ["-c", s]),
        ]),
    /** A clean (fast) stop of the server: the image's user and PGDATA are the container's own. */
    stop: (ns: string, pod: string) => execInServer(ns, pod, ["bash", "-c", 'pg_ctl -D "$PGDATA" -m fast -w stop']),
    label: (ns: string, pod: string, role: string) => ["-n", ns, "label", "pod", pod, `${ROLE_LABEL}=${role}`, "--overwrite"],
    ready: (ns: string, pod: string) => ["-n", ns, "get", "pod", pod, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
    waitReady: (ns: string, pod: string) => ["-n", ns, "wait", "--for=condition=Ready", `pod/${pod}`, "--timeout=300s"],
    deletePod: (ns: string, pod: string) => ["-n", ns, "delete", "pod", pod, "--wait=true"],
};

/** `ANY k (a, b, …)` or `FIRST k (…)` or `k (…)`: k and the members; undefined when synchronous commit is off. */
export function parseSynchronousStandbyNames(value: string): { k: number; members: string[] } | undefined {
    const v = value.trim();
    if (v === "") {
        return undefined;
    }
    const m = /^(?:(?:ANY|FIRST)\s+)?(\d+)\s*\((.*)\)$/i.exec(v);
    if (!m) {
        // A bare list is FIRST 1 (…) (PostgreSQL's synchronous_standby_names).
        return { k: 1, members: v.split(",").map((s) => s.trim().replace(/^"|"$/g, "")) };
    }
    return { k: Number(m[1]), members: m[2].split(",").map((s) => s.trim().replace(/^"|"$/g, "")) };
}

/** Runs the failover; resolves when the old primary serves as a standby of the new one. */
export async function failover(o: FailoverOptions): Promise<void> {
    const ns = o.namespace;
    const pause = o.pause ?? (() => new Promise<void>((r) => setTimeout(r, 1000)));
    const polls = o.polls ?? 120;
    const run = async (what: string, args: readonly string[]) => {
        const r = await o.kubectl(args);
        if (r.status !== 0) {
            throw new FailoverError(`${what}: kubectl ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
        }
        return r.stdout.trim();
    };
    const rows = async (what: string, pod: string, statements: readonly string[]) =>
        (await run(what, argv.sql(ns, pod, statements))).split("\n").map((l) => l.split("|"));
    /** Whether the pod exists, and its Ready condition ("True", "False", …); undefined when it does not exist. */
    const readiness = async (pod: string) => {
        const r = await o.kubectl(argv.ready(ns, pod));
        if (r.status === 0) {
            return r.stdout.trim();
        }
        if (/NotFound|not found/.test(r.stderr)) {
            return undefined;
        }
        throw new FailoverError(`reading pod ${pod}: kubectl ${argv.ready(ns, pod).join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
    };
    const until = async (what: string, probe: () => Promise<boolean>, budget = polls) => {
        let lastError = "";
        for (let i = 0; i < budget; i++) {
            const ok = await probe().catch((e: Error) => {
                lastError = e.message;
                return false;
            });
            if (ok) {
                return;
            }
            await pause();
        }
        throw new FailoverError(`gave up waiting: ${what}${lastError ? ` (last: ${lastError})` : ""}`);
    };
    /**
     * Fences the old primary if its pod exists (label `fenced`: in no Service) and makes sure its server serves no
     * more: answering as a primary, it is stopped cleanly (every WAL record it wrote reaches the connected standbys
     * before it exits; the container ends with it, and the exec with the container); answering as a standby, nothing
     * to stop; answering nothing (its node gone, its container down), only --old-primary-down lets the command go on,
     * since a server no exec reaches may still serve the connections it has. Whether the pod exists.
     */
    const fence = async (): Promise<boolean> => {
        if ((await readiness(o.from)) === undefined) {
            return false;
        }
        await run(`fencing ${o.from}`, argv.label(ns, o.from, "fenced"));
        o.log(`failover: ${o.from} labelled ${ROLE_LABEL}=fenced: in no Service`);
        const answer = await o.kubectl(argv.sql(ns, o.from, ["SELECT pg_catalog.pg_is_in_recovery()"]));
        const recovery = answer.status === 0 ? answer.stdout.trim() : "";
        if (recovery === "f") {
            const stopped = await o.kubectl(argv.stop(ns, o.from));
            o.log(`failover: ${o.from}'s server stopped (pg_ctl -m fast; the exec exited ${stopped.status})`);
        } else if (recovery === "t") {
            o.log(`failover: ${o.from}'s server answers as a standby: nothing to stop`);
        } else if (o.oldPrimaryDown) {
            o.log(`failover: ${o.from}'s server answers no exec (exit ${answer.status}); --old-primary-down: taken as down`);
        } else {
            throw new FailoverError(
                `${o.from}'s server answers no exec (kubectl exec exited ${answer.status}: ${answer.stderr.trim()}): it may still serve the ` +
                    `connections it has; nothing was promoted (${o.from} stays fenced). Once its server or its node is known to be down, ` +
                    `run again with --old-primary-down`,
            );
        }
        return true;
    };
    if (o.from === o.to) {
        throw new FailoverError(`--from and --to are both ${o.to}`);
    }

    // Checks that change nothing.
    const [[recovery, received, names]] = await rows(`reading ${o.to}`, o.to, [
        "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.pg_last_wal_receive_lsn() IS NOT NULL, pg_catalog.current_setting('synchronous_standby_names')",
    ]);
    if (recovery !== "t") {
        throw new FailoverError(`${o.to} is not a standby (pg_is_in_recovery() = ${recovery}): nothing to promote`);
    }
    if (received !== "t") {
        // pg_last_wal_receive_lsn() is NULL from a server's start until its walreceiver writes WAL: a standby restarted
        // while no primary answers holds what it replayed before, and is the one to promote (the comparison below
        // uses what it replayed). Said, not refused.
        o.log(`failover: ${o.to} has received no WAL since its server started: what it holds is what it replayed`);
    }
    // The other server pods: which exist (their slots are made on the new primary) and which are Ready (the
    // quorum after the failover, and the candidates that may hold more WAL than the target).
    const others: string[] = [];
    const readyOthers: string[] = [];
    for (const pod of SERVER_PODS.filter((p) => p !== o.to && p !== o.from)) {
        const ready = await readiness(pod);
        if (ready !== undefined) {
            others.push(pod);
            if (ready === "True") {
                readyOthers.push(pod);
            }
        }
    }
    const sync = parseSynchronousStandbyNames(names);
    if (sync) {
        const ready = readyOthers.filter((p) => sync.members.includes(slotOfPod(p)));
        if (ready.length < sync.k) {
            const message =
                `synchronous_standby_names = '${names}' needs ${sync.k} standby(s) to acknowledge each commit, and after the failover ` +
                `${ready.length === 0 ? "no other member is Ready" : `only ${ready.join(", ")} ${ready.length === 1 ? "is" : "are"} Ready`}: ` +
                `writes on ${o.to} would wait until ${o.from} rejoins`;
            if (!o.acceptWaitingWrites) {
                throw new FailoverError(`${message}; pass --accept-waiting-writes to go on`);
            }
            o.log(`failover: ${message} (accepted)`);
        }
    }

    // 1. Fence the old primary.
    let fromExists = await fence();
    if (!fromExists) {
        o.log(`failover: ${o.from} does not exist: nothing to fence`);
    }

    // 2. The target streams from nobody and has replayed all it can; promote, CHECKPOINT. Not "replay = receive":
    //    receive is NULL after a restart, and a stream cut inside a record leaves replay short of it for good; the
    //    promotion itself replays what pg_wal holds (PostgreSQL's WaitForWALToBecomeAvailable), so the wait is only
    //    for the walreceiver to be gone and the replay position to stop moving (two polls in a row).
    let last = "";
    await until(`${o.to} to stream from no primary and replay all it holds`, async () => {
        const [[status, received, replayed]] = await rows(`reading ${o.to}`, o.to, [
            "SELECT coalesce((SELECT status FROM pg_catalog.pg_stat_wal_receiver), ''), " +
                "pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn()",
        ]);
        const position = `${received} ${replayed}`;
        const still = status !== "streaming" && position === last;
        last = status === "streaming" ? "" : position;
        return still;
    });
    // With other Ready standbys: the target must hold at least as much WAL as each (an acknowledged commit may be on
    // one of them only). Read now, when nothing streams to any of them any more (the old primary is stopped or gone).
    if (readyOthers.length > 0) {
        const held: Record<string, string> = {};
        for (const pod of [o.to, ...readyOthers]) {
            held[pod] = (await run(`reading the WAL ${pod} holds`, argv.sql(ns, pod, [HELD_WAL_SQL]))).trim();
        }
        const best = mostAdvanced(held)!;
        if (lsnValue(held[best]) > lsnValue(held[o.to])) {
            throw new FailoverError(
                `${best} holds more WAL (${held[best]}) than ${o.to} (${held[o.to]}): an acknowledged commit may be on ${best} only; ` +
                    `nothing was promoted${fromExists ? ` (${o.from} stays fenced)` : ""}; run: npm run failover -- --to ${best} --from ${o.from}`,
            );
        }
        o.log(
            `failover: ${o.to} holds the most WAL (${Object.entries(held)
                .map(([p, l]) => `${p} ${l}`)
                .join(", ")})`,
        );
    }
    // Its StatefulSet may have recreated a missing old primary meanwhile, started as a primary if it found none:
    // fenced before the promotion, never two primaries.
    if (!fromExists && (fromExists = await fence())) {
        o.log(`failover: ${o.from} was recreated meanwhile: fenced before the promotion`);
    }
    const promoted = await run(`promoting ${o.to}`, argv.sql(ns, o.to, ["SELECT pg_catalog.pg_promote(true, 60)", "CHECKPOINT"]));
    if (promoted !== "t") {
        // The startup process finishes the promotion once its restore_command returns (a history file or a segment
        // asked of the archive: pgBackRest waits up to its io-timeout, 60 s, per S3 request, and tries again, when
        // the bucket does not answer). Asked again at every poll (pg_promote(false): harmless while it runs, and
        // a request lost with a restarted startup process is made again), for five times a wait's budget.
        o.log(`failover: ${o.to} still in recovery after pg_promote's 60 s (restore_command waiting on the archive?): waiting`);
        await until(
            `${o.to} to finish its promotion; if it does, run: kubectl ${argv.label(ns, o.to, "primary").join(" ")}`,
            async () => {
                const [[r]] = await rows(`reading ${o.to}`, o.to, [
                    "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NOT pg_catalog.pg_promote(false) ELSE true END",
                ]);
                return r === "t";
            },
            polls * 5,
        );
        await run(`CHECKPOINT on ${o.to}`, argv.sql(ns, o.to, ["CHECKPOINT"]));
    }
    o.log(`failover: ${o.to} promoted (CHECKPOINT done)`);
    // The other standbys' slots (a promoted standby has none); the old primary's is made by its start script when it
    // rejoins (clone or rewind).
    if (others.length > 0) {
        const slots = others.map(slotOfPod);
        const made = await run(`creating the slots ${slots.join(", ")} on ${o.to}`, argv.sql(ns, o.to, createSlotsStatements(slots)));
        o.log(`failover: the slots ${slots.join(", ")} exist on ${o.to} (${made} created)`);
    }

    // 3. Point `postgres` at it.
    await run(`labelling ${o.to}`, argv.label(ns, o.to, "primary"));
    await run(`waiting for ${o.to}`, argv.waitReady(ns, o.to));
    o.log(`failover: ${o.to} labelled ${ROLE_LABEL}=primary and Ready: postgres selects it`);

    // 4. Rejoin the old primary as a standby.
    if (fromExists) {
        await run(`deleting ${o.from}`, argv.deletePod(ns, o.from));
    }
    await until(`${o.from} to come back as a standby of ${o.to}`, async () => {
        const [[r]] = await rows(`reading ${o.from}`, o.from, ["SELECT pg_catalog.pg_is_in_recovery()"]);
        if (r === "f") {
            // Recreated with the template's label `primary`, it started as a primary (no primary answered it then):
            // out of the Service at once and stopped; its next start finds the new primary and rewinds.
            await run(`fencing ${o.from}`, argv.label(ns, o.from, "fenced"));
            const stopped = await o.kubectl(argv.stop(ns, o.from));
            o.log(
                `failover: ${o.from} came back as a primary: fenced and stopped (the exec exited ${stopped.status}); its next start rewinds it`,
            );
        }
        return r === "t";
    }).catch((e: Error) => {
        // Writes are served already; only the rejoin is missing (its node gone, its volume not attachable …).
        throw new RejoinPendingError(
            `${e.message}. The failover itself is done: ${o.to} is the primary, Ready behind postgres. When ${o.from} runs again ` +
                `its start script rewinds or clones it as a standby; then: kubectl ${argv.label(ns, o.from, "standby").join(" ")}`,
        );
    });
    await run(`labelling ${o.from}`, argv.label(ns, o.from, "standby"));
    await run(`waiting for ${o.from}`, argv.waitReady(ns, o.from));
    o.log(`failover: ${o.from} rejoined as a standby of ${o.to} and is Ready (postgres-ro)`);
}

/** kubectl as a child process, its output collected. */
function spawnKubectl(kubectlBinary: string): Kubectl {
    return (args) =>
        new Promise((resolve) => {
            const child = spawn(kubectlBinary, [...args], { stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d) => (stdout += String(d)));
            child.stderr.on("data", (d) => (stderr += String(d)));
            child.on("error", (e) => resolve({ status: 127, stdout, stderr: `cannot run ${kubectlBinary}: ${e.message}` }));
            child.on("close", (code) => resolve({ status: code ?? 1, stdout, stderr }));
        });
}

if (require.main === module) {
    runCommand(FAILOVER_COMMAND, { prefix: "failover failed", code: 1 }, async ({ values }) => {
        try {
            await failover({
                namespace: values.namespace ?? "hanzo",
                from: values.from ?? PRIMARY_POD,
                to: values.to,
                acceptWaitingWrites: values["accept-waiting-writes"],
                oldPrimaryDown: values["old-primary-down"],
                kubectl: spawnKubectl(process.env.KUBECTL ?? "kubectl"),
                log: (line) => process.stderr.write(`${line}\n`),
            });
        } catch (e) {
            if (e instanceof RejoinPendingError) {
                process.stderr.write(`failover done, rejoin pending: ${e.message}\n`);
                return 3;
            }
            throw e;
        }
        return 0;
    });
}
