import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Client } from "pg";
import { DATA_MOUNT, PGDATA } from "../../components/postgresInstance";
import { planOf } from "../support/plan";
import { PersistentVolume, Pod, PodNetwork, applyInitSql, clusterNetwork, connectTo, secretOf, startServerPod } from "../support/pods";

/**
 * The server pod of hanzo-k8s, exactly as the StatefulSet renders it, run by the pod runner (test/harness/pod): a
 * fresh ext4 volume (lost+found at its root), the postgres image's entrypoint, the rendered configuration
 * from its ConfigMap, the declared users, groups, read-only root and volumes; probes run inside the
 * container; stopped as the kubelet stops it. Then a second boot on the same volume.
 */
describe("pods: the server StatefulSet of hanzo-k8s, run as declared", function () {
    this.timeout(300_000);
    let network: PodNetwork;
    let volume: PersistentVolume;
    let pod: Pod | undefined;
    let adminPassword: string;

    before(async () => {
        // The plan's NetworkPolicies enforced, the Services' names served by the cluster DNS stand-in.
        network = await clusterNetwork(await planOf("hanzo-k8s"));
        volume = PersistentVolume.fresh();
        adminPassword = secretOf(await planOf("hanzo-k8s"), "hanzo", "postgres-credentials").password;
    });
    after(async () => {
        await pod?.stop(5).catch(() => undefined);
        network?.destroy();
        volume?.remove();
    });

    it("first boot on a fresh volume: initdb below lost+found, the rendered configuration, Ready by its probes", async () => {
        const plan = await planOf("hanzo-k8s");
        pod = await startServerPod(plan, network, volume);
        await pod.waitReady();
        const server = pod.container("postgres");
        assert.match(server.logs(), /PostgreSQL init process complete; ready for start up\./);
        // The volume's root is a fresh filesystem's: lost+found beside PGDATA, which the kubelet's fsGroup made writable.
        const root = pod.volumePath("postgres-data");
        assert.deepStrictEqual(fs.readdirSync(root).sort(), ["lost+found", path.basename(PGDATA)]);
        const st = fs.statSync(root);
        assert.strictEqual(st.gid, 999);
        assert.strictEqual(st.mode & 0o2070, 0o2070, "fsGroup: group rwx and setgid on the volume's root");
        assert.strictEqual(fs.statSync(path.join(root, "pgdata")).uid, 999);
        assert.strictEqual(PGDATA, `${DATA_MOUNT}/pgdata`);

        // Inside the container: the declared identity, no capabilities, no_new_privs, read-only root.
        const id = await server.exec([
            "sh",
            "-c",
            "id -u; id -g; id -G; grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status; touch /probe-rootfs 2>&1 || true; cat /proc/1/cmdline | tr '\\0' ' '",
        ]);
        assert.strictEqual(id.status, 0, id.stderr);
        const lines = id.stdout.trim().split("\n");
        assert.deepStrictEqual(lines.slice(0, 3), ["999", "999", "999"]);
        assert.deepStrictEqual(lines.slice(3, 6), ["CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1"]);
        assert.match(lines[6], /Read-only file system/);
        assert.strictEqual(
            lines[7].trim(),
            "postgres -c config_file=/etc/postgresql/postgresql.conf -c hba_file=/etc/postgresql/pg_hba.conf",
            "PostgreSQL is PID 1",
        );

        // The superuser over the pod network (SCRAM from 10.244.x.1, inside the admitted 10.0.0.0/8), the rendered settings live.
        const admin = await connectTo(pod.ip, 5432, "hanzo", adminPassword, "postgres");
        const settings = (
            await admin.query(
                "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'max_connections', 'shared_preload_libraries', 'data_checksums', 'hba_file') ORDER BY name",
            )
        ).rows;
        assert.deepStrictEqual(settings, [
            { name: "data_checksums", setting: "on" },
            { name: "hba_file", setting: "/etc/postgresql/pg_hba.conf" },
            { name: "max_connections", setting: "200" },
            { name: "shared_buffers", setting: "65536" },
            { name: "shared_preload_libraries", setting: "pg_stat_statements" },
        ]);
        // The entrypoint ran the rendered init file after initdb: the administrator's sessions resolve names in
        // pg_catalog only from the first start (issue 21), before any service exists.
        assert.deepStrictEqual(
            (
                await admin.query(
                    "SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = 0 AND setrole = (SELECT oid FROM pg_roles WHERE rolname = 'hanzo')",
                )
            ).rows,
            [{ setconfig: ["search_path=pg_catalog, pg_temp"] }],
        );
        // /dev/shm is the memory volume of three quarters of the 2Gi memory limit (a parallel HNSW build keeps its
        // graph there, docs/vector-search.md), not the runtime's 64MB.
        const shm = await server.exec(["df", "-k", "--output=size", "/dev/shm"]);
        assert.strictEqual(shm.stdout.trim().split("\n")[1].trim(), String(1.5 * 1024 * 1024));
        await admin.end();
        applyInitSql(plan, pod, adminPassword);
    });

    it("answers its startup, liveness and readiness probes inside the container", async () => {
        for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
            const r = await pod!.probe("postgres", kind);
            assert.ok(r.ok, `${kind}: ${r.detail}`);
            assert.match(r.detail, /accepting connections/);
        }
    });

    it("stops by the image's STOPSIGNAL with clients connected: no failing hook, a shutdown checkpoint, well within the grace period", async () => {
        const plan = await planOf("hanzo-k8s");
        const clients: Client[] = [];
        for (let i = 0; i < 5; i++) {
            clients.push(await connectTo(pod!.ip, 5432, "hanzo", adminPassword, "postgres"));
        }
        const server = pod!.container("postgres");
        const report = await pod!.stop();
        const grace = (await import("../harness/pod/plan")).workload(plan, "StatefulSet", "postgres").spec.terminationGracePeriodSeconds!;
        assert.strictEqual(grace, 120);
        const r = report.containers.postgres;
        // No preStop hook fails (a hook that waits for PID 1 is killed with it: exit 137, FailedPreStopHook).
        assert.ok(r.preStop === undefined || r.preStop.status === 0, `preStop exited ${r.preStop?.status}: ${r.preStop?.stderr}`);
        assert.strictEqual(r.exit, 0);
        assert.strictEqual(r.killed, false);
        assert.ok(r.stopMs < grace * 1000);
        const log = server.logs();
        assert.match(log, /received fast shutdown request/);
        assert.match(log, /checkpoint starting: shutdown immediate/);
        assert.match(log, /database system is shut down/);
        for (const c of clients) {
            await c.end().catch(() => undefined);
        }
        pod = undefined;
    });

    it("second boot on the same volume: no initdb, no recovery, the roles and databases still there", async () => {
        const plan = await planOf("hanzo-k8s");
        pod = await startServerPod(plan, network, volume);
        await pod.waitReady();
        const log = pod.container("postgres").logs();
        assert.match(log, /Skipping initialization/);
        assert.doesNotMatch(log, /init process complete/);
        assert.match(log, /database system was shut down at/);
        assert.doesNotMatch(log, /automatic recovery in progress|was interrupted|not properly shut down/);
        const admin = await connectTo(pod.ip, 5432, "hanzo", adminPassword, "postgres");
        const dbs = (await admin.query("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")).rows.map((x) => x.datname);
        assert.deepStrictEqual(dbs, ["cloud", "console", "hanzo_cloud", "iam", "kms", "platform", "postgres"]);
        await admin.end();
    });
});
