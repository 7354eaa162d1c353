/**
 * npm run bench:pods
 *
 * The server pod of hanzo-k8s run as declared by the pod runner (test/harness/pod): time from pod start to Ready
 * (startup then readiness probe passing) on a fresh volume (initdb included) and on a second boot of the
 * same volume, and the time the kubelet's stop takes (STOPSIGNAL SIGINT: fast shutdown + shutdown
 * checkpoint) with 50 idle clients connected, each against the grace period it leaves. One run, root only.
 * The runner polls probes every 250 ms; a kubelet probes every periodSeconds, so add up to one period
 * (readiness: 5 s) to the Ready figures in a cluster.
 */
import { Client } from "pg";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { Command, Flag, runCommand } from "../cli/cli";
import { namespaceData, workload } from "../test/harness/pod/plan";
import { PersistentVolume, Pod, PodNetwork } from "../test/harness/pod/runner";
import { planFromStackFile } from "../cli/plan";

async function main(): Promise<void> {
    const plan = await planFromStackFile("hanzo-k8s");
    const w = workload(plan, "StatefulSet", "postgres");
    const { secrets, configMaps } = namespaceData(plan, w.namespace);
    const password = secrets.get("postgres-credentials")!.password;
    const grace = w.spec.terminationGracePeriodSeconds ?? 30;
    const network = PodNetwork.create();
    const volume = PersistentVolume.fresh();
    const start = () =>
        Pod.start({
            name: "postgres-0",
            namespace: w.namespace,
            spec: w.spec,
            network,
            secrets,
            configMaps,
            claims: { [w.claimTemplates[0]]: volume },
            services: ["postgres"],
        });
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    try {
        let pod = await start();
        const fresh = await pod.waitReady();
        await pod.stop();
        pod = await start();
        const second = await pod.waitReady();
        const clients: Client[] = [];
        for (let i = 0; i < 50; i++) {
            const c = new Client({ host: pod.ip, port: POSTGRES_PORT, user: "hanzo", password, database: "postgres" });
            c.on("error", () => undefined);
            await c.connect();
            clients.push(c);
        }
        const report = await pod.stop();
        const r = report.containers.postgres;
        if (r.exit !== 0 || r.killed || !/database system is shut down/.test(pod.container("postgres").logs())) {
            throw new Error(`the server did not shut down cleanly: exit ${r.exit}, killed ${r.killed}`);
        }
        console.log(`server pod of hanzo-k8s (grace period ${grace} s)`);
        console.log(`  start → Ready, fresh volume (initdb): ${sec(fresh)} s`);
        console.log(`  start → Ready, second boot:          ${sec(second)} s`);
        console.log(
            `  stop with 50 idle clients:           ${sec(r.stopMs)} s  (leaves ${sec(grace * 1000 - r.stopMs)} s of the grace period, ${((r.stopMs / (grace * 1000)) * 100).toFixed(1)}% used)`,
        );
        console.log(`  fresh/second boot ratio:             ${(fresh / second).toFixed(2)}`);
        await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    } finally {
        network.destroy();
        volume.remove();
    }
}

/** The bench's command line (`npm run bench:pods -- --help` prints it): no flags. */
export const COMMAND = {
    name: "npm run bench:pods --",
    summary:
        "Runs hanzo-k8s's server pod as declared (test/harness/pod, root only): time to Ready on a fresh volume and on a second boot, " +
        "and the stop with 50 idle clients connected against the grace period, from one run.",
    flags: {},
} as const satisfies Command<Record<string, Flag>>;

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:pods failed", code: 1, trace: true, exit: true }, () => main());
}
