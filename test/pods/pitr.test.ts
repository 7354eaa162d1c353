import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as os from "os";
import { execFileSync } from "child_process";
import { S3Server } from "../harness/local/s3";
import { workload } from "../harness/pod/plan";
import type { PlanResult } from "../../cli/plan/runner";
import { PodCluster, pitrPlanWithBucket } from "../support/podCluster";
import { PersistentVolume, Pod, applyInitSql, canConnect, connectTo, secretOf } from "../support/pods";
import { PITR_OBJECTS } from "../../policies/standard/jobs";
import { PGBACKREST_TLS_PORT } from "../../policies/standard/ports";
import { PGBACKREST_CLIENT_CN, TLS_RELOAD_LOG, serverTlsNames } from "../../render/pitrPod";
import { pitrTlsMaterial } from "../../render/pitrTls";
import { certificatePem, derivedKey, privateKeyPem } from "../../render/x509";

const SERVER_HOST = "postgres.hanzo.svc";

/**
 * Continuous archiving as declared (issue 23, docs/pitr.md "The pod shape"), in the pod runner: the server pod
 * of hanzo-k8s with pitrEnabled (its `pgbackrest` sidecar, the pgbackrest ConfigMap, the archive's and the TLS
 * Secrets), an S3 API over TLS (s3rver, standing in for a MinIO of your own at https://minio.minio.svc with a
 * private CA given as pitrEndpointCa), every NetworkPolicy of the plan enforced and names resolved by the
 * cluster DNS stand-in. The primary's headless Service (postgres.hanzo.svc, the backups' pg1-host) is added to the
 * stand-in by hand, resolving to the one server pod.
 */
describe("pods: the archiving server pod and its base backup CronJob (pgBackRest over mutual TLS)", function () {
    this.timeout(600_000);
    let cluster: PodCluster;
    let s3: S3Server;
    let plan: PlanResult;
    let server: Pod;

    /** pgbackrest in the server pod's sidecar, with its configuration and keys. */
    async function pgbackrest(...args: string[]): Promise<string> {
        const r = await server
            .container("pgbackrest")
            .exec(["pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=db", ...args], 120_000);
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        return r.stdout;
    }

    before(async () => {
        ({ cluster, plan } = await PodCluster.archiving());
        s3 = cluster.s3!;
    });
    after(async () => {
        await cluster?.destroy();
    });

    it("runs the server pod as declared: the sidecar creates the stanza, and WAL reaches the bucket over TLS (pg_stat_archiver)", async () => {
        const w = workload(plan, "StatefulSet", "postgres");
        assert.deepStrictEqual(
            w.spec.containers.map((c) => c.name),
            ["postgres", "exporter", "pgbackrest"],
        );
        server = await cluster.startServer(plan);
        cluster.network.addService("postgres", "hanzo", server.ip);
        // Ready: the server answers, and the sidecar's TLS server listens (after stanza-create succeeded).
        await server.waitReady(300_000);
        applyInitSql(plan, server, secretOf(plan, "hanzo", "postgres-credentials").password);

        const admin = await connectTo(server.ip, 5432, "hanzo", secretOf(plan, "hanzo", "postgres-credentials").password, "postgres");
        try {
            const settings = (
                await admin.query(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_command', 'archive_timeout') ORDER BY name",
                )
            ).rows;
            assert.deepStrictEqual(settings, [
                { name: "archive_command", setting: "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db archive-push %p" },
                { name: "archive_mode", setting: "on" },
                { name: "archive_timeout", setting: "60" },
            ]);
            await admin.query("CREATE TABLE public.marker AS SELECT 1 AS n");
            const segment = (await admin.query("SELECT pg_walfile_name(pg_switch_wal()) AS segment")).rows[0].segment as string;
            // Wait for the archiver to report the segment (PostgreSQL retries archive_command until it succeeds).
            let archiver: { last: string | null; failed: number } = { last: null, failed: 0 };
            for (let i = 0; i < 600 && archiver.last !== segment; i++) {
                archiver = (await admin.query("SELECT last_archived_wal AS last, failed_count::int AS failed FROM pg_stat_archiver"))
                    .rows[0];
                if (archiver.last !== segment) {
                    await new Promise((r) => setTimeout(r, 500));
                }
            }
            assert.strictEqual(archiver.last, segment, server.container("postgres").logs());
            const keys = s3.keys(`postgres-pitr/archive/db/`).filter((k) => path.posix.basename(k).startsWith(`${segment}-`));
            assert.strictEqual(keys.length, 1, s3.keys("postgres-pitr/").join("\n"));
            assert.match(keys[0], new RegExp(`^postgres-pitr/archive/db/15-1/${segment.slice(0, 16)}/${segment}-[0-9a-f]{40}\\.zst$`));
        } finally {
            await admin.end();
        }
    });

    it("runs the base backup CronJobs' pods as declared: a full, then a differential backup through the sidecar's TLS server (pgbackrest info)", async () => {
        for (const cronJob of [PITR_OBJECTS.fullCronJob, PITR_OBJECTS.diffCronJob]) {
            const job = await cluster.startJob(plan, cronJob, `${cronJob}-1-abcde`);
            const done = await job.waitCompleted(600_000);
            assert.deepStrictEqual(done, { backup: 0 }, job.container("backup").logs());
            await job.stop(1);
        }
        const info = JSON.parse(await pgbackrest("--output=json", "info")) as {
            name: string;
            status: { code: number };
            backup: { type: string; error: boolean; prior: string | null; label: string; archive: { start: string; stop: string } }[];
            archive: { id: string; min: string; max: string }[];
        }[];
        assert.deepStrictEqual(
            info.map((s) => ({
                name: s.name,
                status: s.status.code,
                backups: s.backup.map((b) => [b.type, b.error, b.prior === null ? null : b.prior === s.backup[0].label]),
                archive: s.archive.map((a) => a.id),
            })),
            [
                {
                    name: "db",
                    status: 0,
                    backups: [
                        ["full", false, null],
                        ["diff", false, true],
                    ],
                    archive: ["15-1"],
                },
            ],
        );
        // Each backup's own WAL is in the archive: it reaches at least the last backup's stop segment.
        assert.ok(info[0].archive[0].max >= info[0].backup[1].archive.stop, JSON.stringify(info[0]));
    });

    /** A pod with `labels` running the base backup CronJob's image and mounts, whose one container only waits. */
    function probePod(name: string, labels: Record<string, string>): Promise<Pod> {
        return cluster.startProbe(plan, PITR_OBJECTS.fullCronJob, name, labels);
    }

    it("admits the TLS server's port from the base backup pods alone: the dump CronJob's pods and others are dropped", async () => {
        const backupLabels = workload(plan, "CronJob", PITR_OBJECTS.fullCronJob).labels;
        const dumpLabels = workload(plan, "CronJob", "postgres-backup").labels;
        const allowed = (await probePod("pitr-probe", { ...backupLabels })).container("probe");
        const dump = (await probePod("dump-probe", { ...dumpLabels })).container("probe");
        const other = (await probePod("other-probe", { app: "billing" })).container("probe");
        assert.deepStrictEqual(
            [
                await canConnect(allowed, SERVER_HOST, PGBACKREST_TLS_PORT),
                await canConnect(dump, server.ip, PGBACKREST_TLS_PORT),
                await canConnect(other, server.ip, PGBACKREST_TLS_PORT),
            ],
            [true, false, false],
        );
        // Reached, the TLS server itself admits only a client certificate of its CA with the backup Jobs' CN: the
        // same command with the declared certificate succeeds, with one of another CA (same CN) it is refused.
        const issuer = { commonName: "another CA", key: derivedKey("another seed", "ca") };
        const intruder = derivedKey("another seed", "client");
        const files = {
            "/tmp/intruder.crt": certificatePem({ commonName: PGBACKREST_CLIENT_CN, key: intruder, issuer, kind: "client" }),
            "/tmp/intruder.key": privateKeyPem(intruder),
        };
        for (const [file, content] of Object.entries(files)) {
            const w = await allowed.exec(["bash", "-c", `umask 077; printf '%s' "$1" > ${file}`, "-", content]);
            assert.strictEqual(w.status, 0, w.stderr);
        }
        const stanzaCreate = (cert: string, key: string) =>
            allowed.exec(
                [
                    "pgbackrest",
                    "--stanza=db",
                    `--pg1-host=${SERVER_HOST}`,
                    "--pg1-host-type=tls",
                    `--pg1-host-port=${PGBACKREST_TLS_PORT}`,
                    "--pg1-host-ca-file=/etc/pgbackrest-tls/ca.crt",
                    `--pg1-host-cert-file=${cert}`,
                    `--pg1-host-key-file=${key}`,
                    "--pg1-path=/var/lib/postgresql/data/pgdata",
                    "--repo1-path=/tmp/repo",
                    "--lock-path=/tmp",
                    "--log-level-file=off",
                    "--log-level-console=error",
                    "stanza-create",
                ],
                60_000,
            );
        const declared = await stanzaCreate("/etc/pgbackrest-tls/tls.crt", "/etc/pgbackrest-tls/tls.key");
        assert.strictEqual(declared.status, 0, declared.stdout + declared.stderr);
        const refused = await stanzaCreate("/tmp/intruder.crt", "/tmp/intruder.key");
        assert.notStrictEqual(refused.status, 0, refused.stdout + refused.stderr);
        // The server's verdict, as its client reports it: the TLS alert "unknown ca".
        assert.match(refused.stdout + refused.stderr, /unable to check pg1: \[ServiceError\] TLS error \[\d+:\d+\] tlsv1 alert unknown ca/);
        await Promise.all(cluster.pods.slice(-3).map((p) => p.stop(1)));
    });

    it("serves a rotated certificate from the running sidecar: the Secret's files change in the pod, the TLS server reloads, PostgreSQL keeps running", async () => {
        const backupLabels = workload(plan, "CronJob", PITR_OBJECTS.fullCronJob).labels;
        const client = (await probePod("rotation-probe", { ...backupLabels })).container("probe");
        const rotated = pitrTlsMaterial("a rotated seed".padEnd(64, "z"), serverTlsNames("postgres", "postgres-ro", "hanzo"));
        for (const [file, content] of Object.entries(rotated.client)) {
            const w = await client.exec([
                "bash",
                "-c",
                `umask 077; mkdir -p /tmp/rotated; printf '%s' "$1" > /tmp/rotated/${file}`,
                "-",
                content,
            ]);
            assert.strictEqual(w.status, 0, w.stderr);
        }
        const stanzaCreate = (dir: string) =>
            client.exec(
                [
                    "pgbackrest",
                    "--stanza=db",
                    `--pg1-host=${SERVER_HOST}`,
                    "--pg1-host-type=tls",
                    `--pg1-host-port=${PGBACKREST_TLS_PORT}`,
                    `--pg1-host-ca-file=${dir}/ca.crt`,
                    `--pg1-host-cert-file=${dir}/tls.crt`,
                    `--pg1-host-key-file=${dir}/tls.key`,
                    "--pg1-path=/var/lib/postgresql/data/pgdata",
                    "--repo1-path=/tmp/repo",
                    "--lock-path=/tmp",
                    "--log-level-file=off",
                    "--log-level-console=error",
                    "stanza-create",
                ],
                60_000,
            );
        const password = secretOf(plan, "hanzo", "postgres-credentials").password;
        const started = async () => {
            const admin = await connectTo(server.ip, 5432, "hanzo", password, "postgres");
            try {
                return String((await admin.query("SELECT pg_postmaster_start_time() AS t")).rows[0].t);
            } finally {
                await admin.end();
            }
        };
        const postmaster = await started();
        // Before: the server serves the plan's certificate; a client of the new CA does not know it.
        const before = await stanzaCreate("/tmp/rotated");
        assert.notStrictEqual(before.status, 0, before.stdout + before.stderr);
        assert.match(
            before.stdout + before.stderr,
            /unable to verify certificate presented by '[^']+': \[19\] self-signed certificate in certificate chain/,
        );

        server.updateSecret(PITR_OBJECTS.serverTls, rotated.server);
        const sidecar = server.container("pgbackrest");
        for (let i = 0; i < 300 && !sidecar.logs().includes(TLS_RELOAD_LOG); i++) {
            await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok(sidecar.logs().includes(TLS_RELOAD_LOG), sidecar.logs());
        // After: the new client is served (a connection right at the reload may be refused while the server
        // binds its socket again: retried once), the old client files (the Job's Secret before the rotation) refused.
        let after = await stanzaCreate("/tmp/rotated");
        if (after.status !== 0 && /Connection refused|unable to connect/.test(after.stdout + after.stderr)) {
            after = await stanzaCreate("/tmp/rotated");
        }
        assert.strictEqual(after.status, 0, after.stdout + after.stderr);
        const stale = await stanzaCreate("/etc/pgbackrest-tls");
        assert.notStrictEqual(stale.status, 0, stale.stdout + stale.stderr);
        // The same containers: the sidecar never exited, PostgreSQL never restarted.
        assert.strictEqual(sidecar.exitStatus, undefined);
        assert.strictEqual(await started(), postmaster);
        await cluster.pods[cluster.pods.length - 1].stop(1);
    });

    /**
     * A volume as the seed's deployment left it (issue 23 item 7, STANDARD defect 19): PGDATA at the root, which
     * belongs to the server's uid with mode 0700 (no lost+found; initdb ran there).
     */
    function seedLayoutVolume(): PersistentVolume {
        const v = cluster.volume();
        const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-seed-"));
        execFileSync("mount", ["-o", "loop", v.image, mnt]);
        try {
            fs.rmSync(path.join(mnt, "lost+found"), { recursive: true, force: true });
            fs.chownSync(mnt, 999, 999);
            fs.chmodSync(mnt, 0o700);
        } finally {
            execFileSync("umount", [mnt]);
            fs.rmdirSync(mnt);
        }
        return v;
    }

    it("archives from an adopted server (PGDATA at the volume's root, no fsGroup) the same way, into its own repository", async () => {
        await server.stop(10);
        const adopted = await pitrPlanWithBucket(
            cluster.endpoint,
            cluster.ca,
            { backupPrefix: "adopted", adopt: true, adminPassword: "the seed's admin password" },
            ["hanzo-sql:adminPassword"],
        );
        const w = workload(adopted, "StatefulSet", "postgres");
        assert.deepStrictEqual(
            [
                w.spec.securityContext?.fsGroup,
                w.spec.containers.find((c) => c.name === "postgres")!.env!.find((e) => e.name === "PGDATA")?.value,
            ],
            [undefined, "/var/lib/postgresql/data"],
        );
        cluster.enforce(adopted);
        server = await cluster.startServer(adopted, "postgres", { volume: seedLayoutVolume() });
        cluster.network.addService("postgres", "hanzo", server.ip);
        await server.waitReady(300_000);
        const admin = await connectTo(server.ip, 5432, "hanzo", secretOf(adopted, "hanzo", "postgres-credentials").password, "postgres");
        try {
            assert.deepStrictEqual((await admin.query("SELECT setting FROM pg_settings WHERE name = 'data_directory'")).rows, [
                { setting: "/var/lib/postgresql/data" },
            ]);
            const segment = (await admin.query("SELECT pg_walfile_name(pg_switch_wal()) AS segment")).rows[0].segment as string;
            let last: string | null = null;
            for (let i = 0; i < 600 && last !== segment; i++) {
                last = (await admin.query("SELECT last_archived_wal AS last FROM pg_stat_archiver")).rows[0].last;
                if (last !== segment) {
                    await new Promise((r) => setTimeout(r, 500));
                }
            }
            assert.strictEqual(last, segment, server.container("postgres").logs());
        } finally {
            await admin.end();
        }
        const pod = await cluster.startJob(adopted, PITR_OBJECTS.fullCronJob, `${PITR_OBJECTS.fullCronJob}-2-abcde`);
        assert.deepStrictEqual(await pod.waitCompleted(600_000), { backup: 0 }, pod.container("backup").logs());
        const info = JSON.parse(await pgbackrest("--output=json", "info")) as { backup: { type: string; error: boolean }[] }[];
        assert.deepStrictEqual(
            info.map((st) => st.backup.map((b) => [b.type, b.error])),
            [[["full", false]]],
        );
        assert.ok(s3.keys("adopted-pitr/backup/db/").length > 0 && s3.keys("adopted-pitr/archive/db/").length > 0);
    });
});
