import * as assert from "assert";
import type { Client } from "pg";
import * as path from "path";
import { S3Server } from "../harness/local/s3";
import { workload } from "../harness/pod/plan";
import type { Pod } from "../harness/pod/runner";
import type { PlanResult } from "../../cli/plan/runner";
import { BACKUP_BUCKET, PodCluster, pitrPlanWithBucket, stackFileValues } from "../support/podCluster";
import { applyInitSql, connectTo, secretOf } from "../support/pods";
import { PITR_OBJECTS } from "../../policies/standard/jobs";

const BUCKET = BACKUP_BUCKET;
const SOURCE_ADMIN = "the source stack's admin password";

/**
 * A new stack bootstrapped from another stack's archive (pitrBootstrapFrom, docs/pitr.md "Into a new stack"), in
 * the pod runner: hanzo-k8s's server pod archives (its sidecar, S3 over TLS as in test/pods/pitr.test.ts, every
 * NetworkPolicy enforced), its full base backup CronJob's pod runs, rows are written around a target time; then
 * the new stack's server pod, exactly as its plan declares it (the `pitr-bootstrap` init container, its
 * ConfigMap, the archive's Secret), starts on an empty volume, restores the source's archive to that time, and
 * starts with the new stack's administrator password, archiving into its own repository.
 */
describe("pods: a new stack's server pod restored from another stack's archive (pitrBootstrapFrom)", function () {
    this.timeout(900_000);
    let cluster: PodCluster;
    let s3: S3Server;
    let source: PlanResult;
    let target: PlanResult;
    const sourceServices = stackFileValues().services as unknown[];
    let targetTime = "";

    /** Switches the WAL segment and waits until the server reports it archived (pg_stat_archiver); its name. */
    async function switchArchived(admin: Client, server: Pod): Promise<string> {
        const segment = (await admin.query("SELECT pg_walfile_name(pg_switch_wal()) AS segment")).rows[0].segment as string;
        let last: string | null = null;
        for (let i = 0; i < 600 && last !== segment; i++) {
            last = (await admin.query("SELECT last_archived_wal AS last FROM pg_stat_archiver")).rows[0].last;
            if (last !== segment) {
                await new Promise((r) => setTimeout(r, 500));
            }
        }
        assert.strictEqual(last, segment, server.container("postgres").logs());
        return segment;
    }

    before(async () => {
        ({ cluster, plan: source } = await PodCluster.archiving({ adminPassword: SOURCE_ADMIN }, ["hanzo-sql:adminPassword"]));
        s3 = cluster.s3!;
    });
    after(async () => {
        await cluster?.destroy();
    });

    it("the source archives: a full base backup by its CronJob's pod, rows before and after a target time, the last segment archived", async () => {
        const server = await cluster.startServer(source);
        cluster.network.addService("postgres-0.postgres", "hanzo", server.ip);
        await server.waitReady(300_000);
        // The source's roles and databases as its program made them (init-sql, each role's verifier).
        applyInitSql(source, server, SOURCE_ADMIN);
        const admin = await connectTo(server.ip, 5432, "hanzo", SOURCE_ADMIN, "postgres");
        const insert = async (from: number, to: number) => {
            for (let i = from; i <= to; i++) {
                await admin.query("INSERT INTO public.ledger VALUES ($1)", [i]);
            }
        };
        try {
            await admin.query("CREATE TABLE public.ledger (id int PRIMARY KEY)");
            await insert(1, 50);
            const backup = await cluster.startJob(source, PITR_OBJECTS.fullCronJob, `${PITR_OBJECTS.fullCronJob}-1-abcde`);
            assert.deepStrictEqual(await backup.waitCompleted(600_000), { backup: 0 }, backup.container("backup").logs());
            await backup.stop(1);
            // pgBackRest picks the base backup for a time by its stop time, in whole seconds (docs/pitr.md).
            await new Promise((r) => setTimeout(r, 1500));
            await insert(51, 60);
            targetTime = (
                await admin.query("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t")
            ).rows[0].t as string;
            await insert(61, 70);
            await switchArchived(admin, server);
        } finally {
            await admin.end();
        }
        // The source is gone (its volume too, as far as the new stack knows); only the archive remains.
        await server.stop(10);
    });

    it("the new stack's server pod restores it onto an empty volume, to the target, and starts with the new stack's password", async () => {
        assert.ok(targetTime !== "", "the source's test ran");
        const services = sourceServices.map((s) => (s as { name: string }).name);
        const restored = {
            roles: ["hanzo_backup", "hanzo_monitor", ...services.map((s) => `${s}_user`)],
            databases: services,
        };
        // Its own repository (backupPrefix), one service the source lacked (billing), a generated password.
        target = await pitrPlanWithBucket(cluster.endpoint, cluster.ca, {
            backupPrefix: "restored",
            services: [...sourceServices, { name: "billing" }],
            pitrBootstrapFrom: { bucket: BUCKET, path: "/postgres-pitr", time: targetTime, restored },
        });
        const w = workload(target, "StatefulSet", "postgres");
        assert.deepStrictEqual(
            (w.spec.initContainers ?? []).map((c) => c.name),
            ["pitr-bootstrap", "apply-admin-password"],
        );
        cluster.enforce(target);
        const v = cluster.volume();
        const server = await cluster.startServer(target, "postgres", { volume: v });
        await server.waitReady(600_000);
        const step = server.initResults.find((r) => r.name === "pitr-bootstrap");
        assert.strictEqual(step?.status, 0, step?.logs);
        assert.match(
            step.logs,
            new RegExp(
                `^pitr-bootstrap: restored ${BUCKET}/postgres-pitr to time ${targetTime.replace(/[.+]/g, "\\$&")}; the server starts on it$`,
                "m",
            ),
        );

        const password = secretOf(target, "hanzo", "postgres-credentials").password;
        // Compared without printing either on failure (assert's message would show both passwords).
        assert.ok(password !== SOURCE_ADMIN, "the new stack's administrator password differs from the source's");
        await assert.rejects(connectTo(server.ip, 5432, "hanzo", SOURCE_ADMIN, "postgres"), /password authentication failed/);
        const admin = await connectTo(server.ip, 5432, "hanzo", password, "postgres");
        try {
            // Every row committed before the target, none after.
            assert.deepStrictEqual(
                (await admin.query("SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM public.ledger")).rows[0].ids,
                Array.from({ length: 60 }, (_, i) => i + 1).join(","),
            );
            // What the first up imports is there (the source's roles and databases); billing, which it creates, is not.
            const roles = (
                await admin.query("SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname", [
                    [...restored.roles, "billing_user"],
                ])
            ).rows.map((r) => r.rolname);
            assert.deepStrictEqual(roles, [...restored.roles].sort());
            const dbs = (
                await admin.query("SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY datname", [[...services, "billing"]])
            ).rows.map((r) => r.datname);
            assert.deepStrictEqual(dbs, [...services].sort());
            // The stack's own settings: archiving on, its own restore_command, no recovery target left behind.
            assert.deepStrictEqual(
                (
                    await admin.query(
                        "SELECT name, setting, source FROM pg_settings WHERE name IN ('archive_mode', 'restore_command', 'recovery_target_time') ORDER BY name",
                    )
                ).rows,
                [
                    { name: "archive_mode", setting: "on", source: "configuration file" },
                    {
                        name: "recovery_target_time",
                        setting: "",
                        source: "default",
                    },
                    {
                        name: "restore_command",
                        setting: `pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db archive-get %f "%p"`,
                        source: "configuration file",
                    },
                ],
            );
            // It archives into its own repository, on a new timeline: the sidecar made the stanza there (the pod is Ready).
            const segment = await switchArchived(admin, server);
            assert.ok(
                s3.keys("restored-pitr/archive/db/").some((k) => path.posix.basename(k).startsWith(`${segment}-`)),
                s3.keys("restored-pitr/").join("\n"),
            );
            assert.strictEqual(segment.slice(0, 8), "00000002", "a new timeline after the promotion");
        } finally {
            await admin.end();
        }

        // The roles' passwords become the new stack's on the first up (import, then update: ALTER ROLE … PASSWORD),
        // which test/program/transitions.test.ts shows; the mock runtime draws the same generated values for two
        // stacks of one program (by resource name), so this test cannot tell the two stacks' role passwords apart.

        // A restart: the step finds its own mark and leaves the cluster as it is.
        await server.stop(10);
        const again = await cluster.startServer(target, "postgres", { volume: v });
        await again.waitReady(300_000);
        const second = again.initResults.find((r) => r.name === "pitr-bootstrap");
        assert.strictEqual(second?.status, 0, second?.logs);
        assert.match(second.logs, /^pitr-bootstrap: PGDATA was restored from .* earlier; starting it as it is$/m);
    });
});
