import * as assert from "assert";
import { Client } from "pg";
import type { PlanResult } from "../../cli/plan/runner";
import { workload } from "../harness/pod/plan";
import { PodCluster } from "../support/podCluster";
import { PersistentVolume, Pod, applyInitSql, connectTo, readyAgain, secretOf } from "../support/pods";
import { untilValue } from "../support/until";
import { PITR_OBJECTS } from "../../policies/standard/jobs";

const NS = "hanzo";

interface Info {
    backup: { type: string; error: boolean; label: string; prior: string | null; archive: { start: string; stop: string } }[];
    archive: { id: string; min: string; max: string }[];
}

/**
 * Issues 23 and 24 together in the pod runner (docs/pitr.md "With standbys"): a primary and one standby with
 * pitrEnabled, exactly as the plan declares them (each pod with its pgBackRest sidecar), an S3 API over TLS
 * (s3rver as https://minio.minio.svc with its CA as pitrEndpointCa), every NetworkPolicy of the plan enforced, the
 * Services `postgres` and `postgres-ro` answered by the DNS stand-in from their selectors against the pods' current
 * labels and Ready conditions. The standby's sidecar serves without creating the stanza; the base backups copy their
 * files from the standby; after the failover of docs/standbys.md the next backup reaches the new primary through
 * `postgres` (no standby then: from the primary), and once the old primary has rejoined, from it as the standby.
 */
describe("pods: archiving and base backups in a stack with a standby, across a failover (issues 23 and 24)", function () {
    this.timeout(900_000);
    let cluster: PodCluster;
    let plan: PlanResult;
    let primary: Pod;
    let standby: Pod;
    let adminPassword: string;
    const volumes: PersistentVolume[] = [];
    let jobs = 0;

    /** Pod `<statefulset>-0` of a server StatefulSet of the plan, on `volume`; the Services by their selectors. */
    const startMember = (name: string, volume: PersistentVolume): Promise<Pod> => cluster.startServer(plan, name, { volume, services: [] });

    async function admin(pod: Pod): Promise<Client> {
        return connectTo(pod.ip, 5432, "hanzo", adminPassword, "postgres");
    }

    /** A pod of a base backup CronJob as the plan declares it, run to its end: its exit status and log. */
    async function backupJob(cronJob: string): Promise<{ status: number; log: string }> {
        const job = await cluster.startJob(plan, cronJob, `${cronJob}-${++jobs}-abcde`);
        const done = await job.waitCompleted(600_000);
        const log = job.container("backup").logs();
        await job.stop(1);
        return { status: done.backup, log };
    }

    /** `pgbackrest info` from a server pod's sidecar (its configuration and keys). */
    async function info(pod: Pod): Promise<Info> {
        const r = await pod
            .container("pgbackrest")
            .exec(["pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=db", "--output=json", "info"], 120_000);
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        return (JSON.parse(r.stdout) as Info[])[0];
    }

    /** Switches the primary's segment and waits until pg_stat_archiver reports it archived. */
    async function archived(pod: Pod): Promise<string> {
        const a = await admin(pod);
        try {
            const segment = (await a.query("SELECT pg_walfile_name(pg_switch_wal()) AS segment")).rows[0].segment as string;
            await untilValue(
                `segment ${segment} archived`,
                async () =>
                    (await a.query("SELECT last_archived_wal FROM pg_stat_archiver")).rows[0].last_archived_wal === segment
                        ? true
                        : undefined,
                300,
            );
            return segment;
        } finally {
            await a.end();
        }
    }

    before(async () => {
        // hanzo-k8s with a standby, archiving over TLS into s3rver as minio.minio.svc (test/support/podCluster.ts);
        // the Services by their selectors, as the endpoints controller and the cluster DNS resolve them.
        ({ cluster, plan } = await PodCluster.archiving({ standbys: 1 }));
        cluster.addPlanServices(plan);
        volumes.push(cluster.volume(), cluster.volume());
        adminPassword = secretOf(plan, NS, "postgres-credentials").password;
    });
    after(async () => {
        await cluster?.destroy();
    });

    it("the primary's sidecar creates the stanza; the standby's serves without it: the standby is Ready and streams", async () => {
        const w = workload(plan, "StatefulSet", "postgres-standby");
        assert.deepStrictEqual(
            w.spec.containers.map((c) => c.name),
            ["postgres", "exporter", "pgbackrest"],
        );
        primary = await startMember("postgres", volumes[0]);
        await primary.waitReady(300_000);
        applyInitSql(plan, primary, adminPassword);
        standby = await startMember("postgres-standby", volumes[1]);
        await standby.waitReady(300_000);
        const sidecar = standby.container("pgbackrest").logs();
        assert.match(sidecar, /pgbackrest: the server is in recovery \(a standby\): no stanza-create here, serving/);
        assert.doesNotMatch(sidecar, /stanza-create command begin/);
        assert.match(primary.container("pgbackrest").logs(), /stanza-create command end: completed successfully/);
        const a = await admin(primary);
        try {
            const rows = await untilValue("the standby streams", async () => {
                const r = (await a.query("SELECT application_name, state FROM pg_stat_replication")).rows;
                return r.length === 1 && r[0].state === "streaming" ? r : undefined;
            });
            assert.deepStrictEqual(rows, [{ application_name: "postgres_standby_0", state: "streaming" }]);
        } finally {
            await a.end();
        }
        assert.deepStrictEqual(
            [cluster.network.resolve("postgres.hanzo.svc"), cluster.network.resolve("postgres-ro.hanzo.svc")],
            [primary.ip, standby.ip],
        );
    });

    it("archives the primary's WAL; a full and a differential backup copy their files from the standby (pgbackrest info)", async () => {
        const segment = await archived(primary);
        assert.strictEqual(cluster.s3!.keys("postgres-pitr/archive/db/15-1/").filter((k) => k.includes(`/${segment}-`)).length, 1);
        for (const cronJob of [PITR_OBJECTS.fullCronJob, PITR_OBJECTS.diffCronJob]) {
            const { status, log } = await backupJob(cronJob);
            assert.strictEqual(status, 0, log);
            // pgBackRest's own account of a backup from a standby: start/stop on the primary, files from the standby.
            assert.match(log, /wait for replay on the standby to reach/, log);
            assert.match(log, /replay on the standby reached/, log);
            assert.doesNotMatch(log, /pitr-backup: no standby answered/);
        }
        const i = await info(standby);
        assert.deepStrictEqual(
            i.backup.map((b) => [b.type, b.error, b.prior === null ? null : b.prior === i.backup[0].label]),
            [
                ["full", false, null],
                ["diff", false, true],
            ],
        );
        assert.deepStrictEqual(
            i.archive.map((x) => x.id),
            ["15-1"],
        );
    });

    it("after a failover (docs/standbys.md), the next backup reaches the new primary through postgres; with no standby Ready, from the primary", async () => {
        const t0 = Date.now();
        const marks: string[] = [];
        const mark = (what: string) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        // The primary's pod dies; the standby is promoted (with the CHECKPOINT the procedure names) and relabelled.
        primary.container("postgres").signal("SIGKILL");
        await primary.stop(0);
        const promote = await standby
            .container("postgres")
            .exec(["psql", "-XAtq", "-U", "hanzo", "-d", "postgres", "-c", "SELECT pg_promote(true, 60)", "-c", "CHECKPOINT"], 120_000);
        // On failure, the server's own account of the promotion (its log) and the sidecar's: the promotion waits for
        // restore_command, which waits for the bucket (docs/pitr.md "With standbys"; test/pods/network.test.ts).
        const tail = (c: string) => standby.container(c).logs().split("\n").slice(-80).join("\n");
        // psql exits 0 and prints `f` when pg_promote gives up after its 60 s: both checked.
        assert.deepStrictEqual(
            [promote.status, promote.stdout.trim()],
            [0, "t"],
            `${promote.stderr}\n--- postgres ---\n${tail("postgres")}\n--- pgbackrest ---\n${tail("pgbackrest")}`,
        );
        mark("promoted");
        if (Date.now() - t0 > 5000) {
            // Not a failure (the goal is 30 s), but not what a bucket that answers costs (~1 s): the accounts, to read.
            console.log(`      slow promotion:\n--- postgres ---\n${tail("postgres")}\n--- pgbackrest ---\n${tail("pgbackrest")}`);
        }
        standby.relabel({ ...standby.labels, "hanzo.ai/role": "primary" });
        await readyAgain(standby);
        assert.deepStrictEqual(
            [cluster.network.resolve("postgres.hanzo.svc"), cluster.network.resolve("postgres-ro.hanzo.svc")],
            [standby.ip, undefined],
        );
        mark("promoted and relabelled");
        // The new primary archives on timeline 2 into the same stanza.
        const segment = await archived(standby);
        mark("a timeline-2 segment archived");
        assert.ok(segment.startsWith("00000002"), segment);

        const { status, log } = await backupJob(PITR_OBJECTS.fullCronJob);
        mark("the full backup's Job completed");
        console.log(`      after the kill: ${marks.join(", ")}`);
        assert.strictEqual(status, 0, log);
        assert.match(
            log,
            /pitr-backup: no standby answered behind the standbys' Service: backing up from the primary \(postgres-ro\.hanzo\.svc has no address\)/,
        );
        // pg2 left out: no attempt at the unresolvable name, no wait for a standby's replay.
        assert.doesNotMatch(log, /unable to check pg2|wait for replay on the standby/);
        const i = await info(standby);
        assert.deepStrictEqual(
            i.backup.map((b) => [b.type, b.error]),
            [
                ["full", false],
                ["diff", false],
                ["full", false],
            ],
        );
        assert.ok(i.backup[2].archive.start.startsWith("00000002"), JSON.stringify(i.backup[2]));
    });

    it("once the old primary has rejoined as a standby (pg_rewind, relabelled), the next backup copies from it", async () => {
        const old = await startMember("postgres", volumes[0]);
        const a = await admin(standby);
        try {
            await untilValue(
                "the old primary streams from the new one",
                async () => {
                    const rows = (await a.query("SELECT application_name, state FROM pg_stat_replication")).rows;
                    return rows.length === 1 && rows[0].state === "streaming" && rows[0].application_name === "postgres_0"
                        ? true
                        : undefined;
                },
                300,
            );
        } finally {
            await a.end();
        }
        assert.match(old.container("postgres").logs(), /rewinding and rejoining as its standby/);
        old.relabel({ ...old.labels, "hanzo.ai/role": "standby" });
        await readyAgain(old);
        assert.match(
            old.container("pgbackrest").logs(),
            /pgbackrest: the server is in recovery \(a standby\): no stanza-create here, serving/,
        );
        assert.strictEqual(cluster.network.resolve("postgres-ro.hanzo.svc"), old.ip);
        const { status, log } = await backupJob(PITR_OBJECTS.diffCronJob);
        assert.strictEqual(status, 0, log);
        assert.match(log, /replay on the standby reached/, log);
        assert.doesNotMatch(log, /pitr-backup: no standby answered/);
        const i = await info(old);
        assert.deepStrictEqual(
            i.backup.map((b) => [b.type, b.error]),
            [
                ["full", false],
                ["diff", false],
                ["full", false],
                ["diff", false],
            ],
        );
        assert.strictEqual(i.backup[3].prior, i.backup[2].label);
    });
});
