import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { S3Server } from "../harness/local/s3";
import { workload } from "../harness/pod/plan";
import type { PlanResult } from "../../cli/plan/runner";
import { BACKUP_BUCKET, PodCluster } from "../support/podCluster";
import { Pod, applyInitSql, connectTo, secretOf } from "../support/pods";
import { PITR_OBJECTS } from "../../policies/standard/jobs";

const BUCKET = BACKUP_BUCKET;
const DRILL = "postgres-restore-drill";

/**
 * The WAL archive's restore drill (issue 23, docs/pitr.md "The drill") in the pod runner, with the archive it
 * proves: the archiving server pod of hanzo-k8s with pitrEnabled, an S3 API over TLS (s3rver as
 * https://minio.minio.svc, its CA as pitrEndpointCa), every NetworkPolicy of the plan enforced. The dump
 * CronJob's pod and the full base backup CronJob's pod run first (the drill Job fetches the latest dump, and
 * restores the latest base backup); then the drill CronJob's pod as the plan declares it: its `pitr-drill`
 * init container marks a target on the real server, restores the base backup and the WAL since to it in the
 * pod's /tmp, checks the markers and records the result and the RTO in the server, where the exporter of the
 * server pod reads it. Then the same Job with the WAL since the backup removed from the bucket: it must fail,
 * saying why.
 */
describe("pods: the WAL archive's restore drill Job against the archiving server pod", function () {
    this.timeout(900_000);
    let cluster: PodCluster;
    let s3: S3Server;
    let plan: PlanResult;
    let server: Pod;

    /** Runs one pod of a CronJob as the plan declares it, until it completes. */
    async function runJob(cronJob: string, suffix: string): Promise<{ job: Pod; done: Record<string, number> }> {
        const job = await cluster.startJob(plan, cronJob, `${cronJob}-${suffix}`);
        const done = await job.waitCompleted(600_000);
        return { job, done };
    }

    /** Runs the drill CronJob's pod; its init containers (fetch, pitr-drill) must both exit 0. */
    async function runDrill(suffix: string): Promise<{ job: Pod; done: Record<string, number>; init: string; pitrLogs: string }> {
        const { job, done } = await runJob(DRILL, suffix);
        const init = job.initResults.map((r) => r.logs).join("\n");
        assert.deepStrictEqual(
            job.initResults.map((r) => [r.name, r.status]),
            [
                ["fetch", 0],
                ["pitr-drill", 0],
            ],
            init,
        );
        return { job, done, init, pitrLogs: job.initResults[1].logs };
    }

    async function adminQuery<T>(sql: string): Promise<T[]> {
        const admin = await connectTo(server.ip, 5432, "hanzo", secretOf(plan, "hanzo", "postgres-credentials").password, "postgres");
        try {
            return (await admin.query(sql)).rows as T[];
        } finally {
            await admin.end();
        }
    }

    /** The exporter sidecar's series about the archive's drill, scraped from the node as Prometheus does. */
    async function drillSeries(): Promise<string[]> {
        const body = await new Promise<string>((resolve, reject) =>
            http
                .get(`http://${server.ip}:9187/metrics`, (res) => {
                    let b = "";
                    res.on("data", (d) => (b += d));
                    res.on("end", () => resolve(b));
                })
                .on("error", reject),
        );
        return body
            .split("\n")
            .filter((l) => /^hanzo_backup_(last_run_ok|restore_seconds)\{/.test(l) && l.includes('kind="pitr"'))
            .sort();
    }

    before(async () => {
        ({ cluster, plan } = await PodCluster.archiving());
        s3 = cluster.s3!;
    });
    after(async () => {
        await cluster?.destroy();
    });

    it("declares the drill Job with the archive's drill first: fetch, pitr-drill, then the dumps' drill", () => {
        const w = workload(plan, "CronJob", DRILL);
        assert.deepStrictEqual(
            [w.spec.initContainers!.map((c) => c.name), w.spec.containers.map((c) => c.name)],
            [["fetch", "pitr-drill"], ["drill"]],
        );
    });

    let backupStop: string;

    it("runs the server pod, the dump and the full base backup Jobs, and writes after the backup", async () => {
        server = await cluster.startServer(plan);
        cluster.network.addService("postgres-0.postgres", "hanzo", server.ip);
        await server.waitReady(300_000);
        applyInitSql(plan, server, secretOf(plan, "hanzo", "postgres-credentials").password);

        const dump = await runJob("postgres-backup", "1-abcde");
        assert.deepStrictEqual(
            dump.done,
            { report: 0 },
            dump.job.initResults.map((r) => r.logs).join("\n") + dump.job.container("report").logs(),
        );
        await dump.job.stop(1);
        const full = await runJob(PITR_OBJECTS.fullCronJob, "1-abcde");
        assert.deepStrictEqual(full.done, { backup: 0 }, full.job.container("backup").logs());
        await full.job.stop(1);
        const info = await server
            .container("pgbackrest")
            .exec(["pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=db", "--output=json", "info"], 120_000);
        assert.strictEqual(info.status, 0, info.stderr);
        const backups = JSON.parse(info.stdout)[0].backup as { type: string; label: string; archive: { stop: string } }[];
        assert.deepStrictEqual(
            backups.map((b) => b.type),
            ["full"],
        );
        backupStop = backups[0].archive.stop;
        // The Job's conf bundles the small files (repo1-bundle, docs/pitr.md "Restore speed"): a handful of objects,
        // the manifest, bundles and the files past the bundle limit, where one object a file is over a thousand.
        const objects = s3.keys(`postgres-pitr/backup/db/${backups[0].label}/`).map((k) => k.split("/").slice(4).join("/"));
        assert.ok(objects.filter((k) => /^bundle\/\d+$/.test(k)).length >= 1 && objects.length < 50, objects.join("\n"));
        // Writes after the backup, over more than one segment: the drill must replay them from the archive.
        await adminQuery(
            "CREATE TABLE public.after_backup AS SELECT g AS n, repeat('x', 200) AS pad FROM generate_series(1, 100000) g; SELECT pg_switch_wal()",
        );
    });

    it("restores the latest base backup and its WAL to the marked target in the drill Job's pod, records ok and the RTO where the exporter reads them", async () => {
        const { job, done, init, pitrLogs } = await runDrill("1-abcde");
        assert.deepStrictEqual(done, { drill: 0 }, init + job.container("drill").logs());
        const m =
            /pitr drill: restored to ([0-9A-F]+\/[0-9A-F]+) in ([0-9.]+)s; the marker before the target is there, the one after is not/.exec(
                pitrLogs,
            );
        assert.ok(m, pitrLogs);
        await job.stop(1);
        const rows = await adminQuery<{ ok: boolean; succeeded: boolean; duration: number }>(
            "SELECT ok, last_success IS NOT NULL AS succeeded, duration_seconds AS duration FROM hanzo_backup.status WHERE kind = 'pitr' AND database = 'all'",
        );
        assert.deepStrictEqual(rows, [{ ok: true, succeeded: true, duration: Number(m[2]) }]);
        // The markers: "before" at or before the target, "after" past it, both in the real server.
        const markers = await adminQuery<{ phase: string }>("SELECT phase FROM hanzo_backup.pitr_drill_marker ORDER BY at");
        assert.deepStrictEqual(
            markers.map((r) => r.phase),
            ["before", "after"],
        );
        // The exporter of the server pod (its rendered query file) serves them.
        assert.deepStrictEqual(await drillSeries(), [
            `hanzo_backup_last_run_ok{database="all",kind="pitr",server="127.0.0.1:5432"} 1`,
            `hanzo_backup_restore_seconds{database="all",kind="pitr",server="127.0.0.1:5432"} ${Number(m[2])}`,
        ]);
    });

    it("fails the Job, saying why, when the archive lacks the WAL since the base backup", async () => {
        // The segments archived after the backup's own (its stop segment and those before it stay).
        const segments = s3
            .keys("postgres-pitr/archive/db/15-1/")
            .filter((k) => /\/[0-9A-F]{24}-[0-9a-f]{40}\.zst$/.test(k) && path.posix.basename(k).slice(0, 24) > backupStop);
        assert.ok(segments.length >= 2, s3.keys("postgres-pitr/archive/").join("\n"));
        for (const k of segments) {
            fs.rmSync(path.join(s3.dir, BUCKET, `${k}._S3rver_object`));
            fs.rmSync(path.join(s3.dir, BUCKET, `${k}._S3rver_metadata.json`), { force: true });
        }
        const { job, done, init, pitrLogs } = await runDrill("2-abcde");
        const drillLogs = job.container("drill").logs();
        assert.deepStrictEqual(done, { drill: 1 }, init + drillLogs);
        assert.match(pitrLogs, /FATAL: {2}recovery ended before configured recovery target was reached/, pitrLogs);
        assert.match(
            pitrLogs,
            /pitr drill: the archive ends before the target [0-9A-F]+\/[0-9A-F]+: a WAL segment between the base backup and the target is missing from the bucket\n/,
            pitrLogs,
        );
        assert.match(pitrLogs, /pitr drill failed \(wal-missing\); the drill container fails the Job/, pitrLogs);
        assert.match(drillLogs, /the WAL archive's drill failed \(wal-missing\)/, drillLogs);
        await job.stop(1);
        const rows = await adminQuery<{ ok: boolean; succeeded: boolean; duration: number | null }>(
            "SELECT ok, last_success IS NOT NULL AS succeeded, duration_seconds AS duration FROM hanzo_backup.status WHERE kind = 'pitr' AND database = 'all'",
        );
        assert.deepStrictEqual(rows, [{ ok: false, succeeded: true, duration: null }]);
        assert.deepStrictEqual(await drillSeries(), [`hanzo_backup_last_run_ok{database="all",kind="pitr",server="127.0.0.1:5432"} 0`]);
    });
});
