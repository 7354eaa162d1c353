import * as assert from "assert";
import { VALID } from "../support/config";
import { planWith } from "../support/plan";
import { PodCluster } from "../support/podCluster";
import type { Pod } from "../support/pods";
import { applyInitSql, canConnect, connectTo, secretOf } from "../support/pods";
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
    let cluster: PodCluster;
    let primary: Pod;
    let standby: Pod;
    let pooler: Pod;

    /** The server StatefulSet `name`'s pod `<name>-0` on a fresh volume, Ready (Services: the DNS stand-in's selectors). */
    async function startServer(name: string): Promise<Pod> {
        const pod = await cluster.startServer(plan, name, { services: [] });
        await pod.waitReady();
        return pod;
    }

    /** The iam service's pod running psql with its Secret as environment; its exit status and output. */
    function servicePsql(script: string): Promise<{ status: number; out: string }> {
        return cluster.runServicePod(plan, "iam", script);
    }

    before(async () => {
        plan = await planWith("pooled-standbys", CONFIG);
        cluster = await PodCluster.start(plan);
        cluster.addPlanServices(plan);
        const adminPassword = secretOf(plan, NS, "postgres-credentials").password;
        primary = await startServer("postgres");
        applyInitSql(plan, primary, adminPassword);
        standby = await startServer("postgres-standby");
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
        pooler = await cluster.startDeployment(plan, "pgbouncer");
        await pooler.waitReady();
    });
    after(async () => {
        await cluster?.destroy();
    });

    it("lets PgBouncer reach postgres-ro on 5432 under the plan's NetworkPolicies", async () => {
        assert.strictEqual(cluster.network.resolve("postgres-ro.hanzo.svc"), standby.ip);
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
