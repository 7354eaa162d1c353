import * as assert from "assert";
import { VALID } from "../support/config";
import { planWith } from "../support/plan";
import { PersistentVolume, Pod, PodNetwork, applyInitSql, canConnect, clusterNetwork, connectTo, secretOf } from "../support/pods";
import { namespaceData, workload } from "../harness/pod/plan";
import type { PodSpec } from "../harness/pod/runner";
import type { PlanResult } from "../../cli/plan/runner";

/**
 * The read-only PgBouncer pool in the pod runner (docs/standbys.md "Reads"): the primary's and a standby's pods
 * and PgBouncer's Deployment exactly as the plan of a pooled stack with `standbys: 1` declares them, every
 * NetworkPolicy of the plan enforced, the Services answered by the cluster DNS stand-in from their selectors.
 * The pooled service's own pod, with nothing but its Secret, reads through DATABASE_READ_URL (PgBouncer's
 * `iam-ro`) from the standby, is refused a write there (25006), and writes through DATABASE_URL to the primary.
 */
const CONFIG = {
    ...VALID,
    poolingEnabled: true,
    poolReplicas: 1,
    services: [{ name: "iam", pooled: true }],
    standbys: 1,
    synchronousStandbys: 0,
};
const NS = "hanzo";

describe("pods: the read-only PgBouncer pool before a primary and its standby, run as declared", function () {
    this.timeout(600_000);
    let plan: PlanResult;
    let network: PodNetwork;
    const volumes: PersistentVolume[] = [];
    const pods: Pod[] = [];
    let primary: Pod;
    let standby: Pod;
    let pooler: Pod;

    /** Pod `<name>-0` of a workload of the plan (a StatefulSet's on `volume`), with its template's labels. */
    async function start(kind: "StatefulSet" | "Deployment", name: string, volume?: PersistentVolume): Promise<Pod> {
        const w = workload(plan, kind, name);
        const { secrets, configMaps } = namespaceData(plan, w.namespace);
        const pod = await Pod.start({
            name: `${w.name}-0`,
            namespace: w.namespace,
            spec: w.spec,
            network,
            secrets,
            configMaps,
            claims: volume ? Object.fromEntries(w.claimTemplates.map((t) => [t, volume])) : {},
            labels: w.labels,
        });
        pods.push(pod);
        await pod.waitReady();
        return pod;
    }

    /** The iam service's pod running psql with its Secret as environment; its exit status and output. */
    async function servicePsql(script: string): Promise<{ status: number; out: string }> {
        const { secrets, configMaps } = namespaceData(plan, NS);
        const spec: PodSpec = {
            restartPolicy: "Never",
            securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
            containers: [
                {
                    name: "app",
                    image: "postgres:16.4-bookworm",
                    command: ["sh", "-c", script],
                    envFrom: [{ secretRef: { name: "iam-database" } }],
                    securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                },
            ],
        };
        const pod = await Pod.start({ name: "iam-app", namespace: NS, spec, network, secrets, configMaps, labels: { app: "iam" } });
        const status = (await pod.waitCompleted(60_000)).app;
        const out = pod.container("app").logs().trim();
        await pod.stop(1);
        return { status, out };
    }

    before(async () => {
        plan = await planWith("pooled-standbys", CONFIG);
        network = await clusterNetwork(plan);
        for (const r of plan.plan.resources.filter((x) => x.type === "kubernetes:core/v1:Service")) {
            const s = plan.revealed.get(r.urn) as {
                metadata: { name: string; namespace: string };
                spec: { selector: Record<string, string> };
            };
            network.addSelectorService(s.metadata.name, s.metadata.namespace, s.spec.selector);
        }
        volumes.push(PersistentVolume.fresh(), PersistentVolume.fresh());
        const adminPassword = secretOf(plan, NS, "postgres-credentials").password;
        primary = await start("StatefulSet", "postgres", volumes[0]);
        applyInitSql(plan, primary, adminPassword);
        standby = await start("StatefulSet", "postgres-standby", volumes[1]);
        const a = await connectTo(primary.ip, 5432, "hanzo", adminPassword, "postgres");
        try {
            for (let i = 0; ; i++) {
                const n = (await a.query("SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'")).rows[0].n;
                if (n === 1) break;
                assert.ok(i < 480, "the standby did not stream");
                await new Promise((r) => setTimeout(r, 250));
            }
        } finally {
            await a.end();
        }
        pooler = await start("Deployment", "pgbouncer");
    });
    after(async () => {
        for (const p of pods.reverse()) {
            await p.stop(5).catch(() => undefined);
        }
        network?.destroy();
        volumes.forEach((v) => v.remove());
    });

    it("lets PgBouncer reach postgres-ro on 5432 under the plan's NetworkPolicies", async () => {
        assert.strictEqual(network.resolve("postgres-ro.hanzo.svc"), standby.ip);
        assert.strictEqual(await canConnect(pooler.container("pgbouncer"), "postgres-ro.hanzo.svc", 5432), true);
        assert.strictEqual(await canConnect(pooler.container("pgbouncer"), "postgres.hanzo.svc", 5432), true);
    });

    it("serves the service's DATABASE_READ_URL (pgbouncer …/iam-ro) from the standby, refuses a write there, and DATABASE_URL from the primary", async () => {
        assert.match(secretOf(plan, NS, "iam-database").DATABASE_READ_URL, /@pgbouncer\.hanzo\.svc:6432\/iam-ro\?sslmode=disable$/);
        const write = await servicePsql(
            `psql "$DATABASE_URL" -X -q -tA -v ON_ERROR_STOP=1 -c "CREATE TABLE t (n int)" -c "INSERT INTO t VALUES (1)" -c "SELECT pg_is_in_recovery(), host(inet_server_addr())"`,
        );
        assert.strictEqual(write.status, 0, write.out);
        assert.strictEqual(write.out, `f|${primary.ip}`);
        let read = { status: -1, out: "" };
        for (let i = 0; i < 20 && !(read.status === 0 && read.out.endsWith("|1")); i++) {
            read = await servicePsql(
                `psql "$DATABASE_READ_URL" -X -tA -c "SELECT pg_is_in_recovery(), host(inet_server_addr()), current_user, current_database(), count(*) FROM t"`,
            );
        }
        assert.strictEqual(read.status, 0, read.out);
        assert.strictEqual(read.out, `t|${standby.ip}|iam_user|iam|1`);
        const refused = await servicePsql(
            `psql "$DATABASE_READ_URL" -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "INSERT INTO t VALUES (2)"`,
        );
        assert.strictEqual(refused.status, 1, refused.out);
        assert.match(refused.out, /ERROR: {2}25006: cannot execute INSERT in a read-only transaction/);
    });
});
