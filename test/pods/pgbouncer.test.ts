import * as assert from "assert";
import { PGBOUNCER_UID } from "../../components/pooler";
import { namespaceData, workload } from "../harness/pod/plan";
import type { PodSpec } from "../harness/pod/runner";
import type { PlanResult } from "../../cli/plan/runner";
import { planWith } from "../support/plan";
import {
    PersistentVolume,
    Pod,
    PodNetwork,
    applyInitSql,
    canConnect,
    clusterNetwork,
    runServicePod,
    secretOf,
    startServerPod,
} from "../support/pods";
import * as net from "net";
import { POOLED } from "../support/config";

/**
 * A pooled stack's PgBouncer Deployment run as declared (uid 70, read-only root, the userlist Secret mounted
 * with the kubelet's modes and ownership) in front of its server pod, and a pooled service's pod connecting
 * with nothing but its Secret's DATABASE_URL (postgresql://…@pgbouncer.hanzo.svc:6432/…), as the service does.
 */
describe("pods: a pooled stack's PgBouncer Deployment, run as declared", function () {
    this.timeout(300_000);
    let plan: PlanResult;
    let network: PodNetwork;
    let volume: PersistentVolume;
    const pods: Pod[] = [];

    before(async () => {
        plan = await planWith("pooled", POOLED);
        // Every NetworkPolicy of the plan enforced; names from the cluster DNS stand-in.
        network = await clusterNetwork(plan);
        volume = PersistentVolume.fresh();
        const server = await startServerPod(plan, network, volume);
        pods.push(server);
        await server.waitReady();
        applyInitSql(plan, server, secretOf(plan, "hanzo", "postgres-credentials").password);
    });
    after(async () => {
        for (const p of pods.reverse()) {
            await p.stop(5).catch(() => undefined);
        }
        network?.destroy();
        volume?.remove();
    });

    /** The pooler's pod from the plan (or from a changed copy of its spec). */
    async function startPooler(spec?: PodSpec): Promise<Pod> {
        const w = workload(plan, "Deployment", "pgbouncer");
        const { secrets, configMaps } = namespaceData(plan, w.namespace);
        const pod = await Pod.start({
            name: "pgbouncer-0",
            namespace: w.namespace,
            spec: spec ?? w.spec,
            network,
            secrets,
            configMaps,
            services: ["pgbouncer"],
            labels: w.labels,
        });
        pods.push(pod);
        await pod.waitReady();
        return pod;
    }

    /** A pod of the commerce service: psql with the Secret `commerce-database` as its environment. */
    const serviceQuery = (sql: string) =>
        runServicePod(plan, network, "commerce", `psql "$DATABASE_URL" -X -tA -c "${sql}"`, "hanzo", (pod) => pods.push(pod));

    it("connects a pooled service through its Secret's DATABASE_URL, as its role, to its database, pooled by transaction", async () => {
        const url = secretOf(plan, "hanzo", "commerce-database").DATABASE_URL;
        assert.match(url, /^postgresql:\/\/commerce_user:[^@]+@pgbouncer\.hanzo\.svc:6432\/commerce\?sslmode=disable$/);
        const pooler = await startPooler();
        // The userlist as PgBouncer's container sees it: root-owned, group 70, readable by the group only.
        const st = await pooler
            .container("pgbouncer")
            .exec(["sh", "-c", "id -u; id -G; stat -L -c '%u %g %a' /etc/pgbouncer/auth/userlist.txt"]);
        assert.deepStrictEqual(st.stdout.trim().split("\n"), [String(PGBOUNCER_UID), String(PGBOUNCER_UID), `0 ${PGBOUNCER_UID} 440`]);
        const r = await serviceQuery("SELECT current_user || ' ' || current_database() || ' ' || inet_server_port()");
        assert.strictEqual(r.status, 0, r.out);
        assert.strictEqual(r.out, "commerce_user commerce 5432");
        assert.doesNotMatch(pooler.container("pgbouncer").logs(), /could not open auth_file|Permission denied/);
        await pooler.stop(5);
    });

    it("fails every client, while its tcpSocket probe passes, when the userlist is mounted without fsGroup (the kubelet leaves it root:root 0400)", async () => {
        const spec = JSON.parse(JSON.stringify(workload(plan, "Deployment", "pgbouncer").spec)) as PodSpec;
        delete spec.securityContext!.fsGroup;
        spec.volumes!.find((v) => v.name === "auth")!.secret!.defaultMode = 0o400;
        const pooler = await startPooler(spec);
        assert.ok((await pooler.probe("pgbouncer", "readinessProbe")).ok, "Ready all the same");
        const r = await serviceQuery("SELECT 1");
        assert.notStrictEqual(r.status, 0);
        assert.match(r.out, /SASL authentication failed|password authentication failed/);
        assert.match(pooler.container("pgbouncer").logs(), /could not open auth_file .*userlist\.txt.*Permission denied/);
        await pooler.stop(5);
    });

    it("lets PgBouncer reach the server on 5432 and DNS only: an S3 endpoint in the cluster, the node, another port of the server are dropped", async () => {
        const minio = network.addMember({ namespace: "minio", labels: { app: "minio" }, ports: [] });
        network.addService("minio", "minio", minio);
        const listeners: net.Server[] = [];
        const listen = async (address: string) => {
            const l = net.createServer((c) => c.end());
            listeners.push(l);
            await new Promise<void>((resolve) => l.listen(0, address, () => resolve()));
            return (l.address() as net.AddressInfo).port;
        };
        try {
            const s3Port = await listen(minio);
            const nodePort = await listen(network.gateway);
            const pooler = await startPooler();
            const c = pooler.container("pgbouncer");
            assert.deepStrictEqual(
                [
                    await canConnect(c, "postgres.hanzo.svc", 5432),
                    await canConnect(c, "minio.minio.svc", s3Port),
                    await canConnect(c, network.gateway, nodePort),
                    await canConnect(c, "postgres.hanzo.svc", 22),
                ],
                [true, false, false, false],
            );
            await pooler.stop(5);
        } finally {
            listeners.forEach((l) => l.close());
        }
    });
});
