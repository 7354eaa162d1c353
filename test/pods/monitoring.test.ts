import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { freePort } from "../harness/pg/server";
import { planOf } from "../support/plan";
import { PersistentVolume, Pod, PodNetwork, applyInitSql, clusterNetwork, secretOf, startServerPod } from "../support/pods";

const PROMETHEUS = "/usr/bin/prometheus";

function get(url: string): Promise<any> {
    return new Promise((resolve, reject) => {
        http.get(url, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => {
                try {
                    resolve(JSON.parse(body));
                } catch (e) {
                    reject(e);
                }
            });
        }).on("error", reject);
    });
}

/**
 * The exporter sidecar of hanzo-k8s's server pod, run as declared, scraped by a real Prometheus (Debian's
 * 2.42) configured as prometheus-operator configures it from the rendered PodMonitor (job
 * `<namespace>/<name>`, the pod's `metrics` port, its scrapeTimeout, labels namespace/pod/container; the
 * interval shortened to that timeout), loading the rendered PrometheusRule's groups unchanged: PostgresDown fires once the server
 * container has stopped for its `for`, and clears once the kubelet has restarted it.
 */
describe("pods: the exporter sidecar scraped by Prometheus, PostgresDown firing and clearing", function () {
    this.timeout(600_000);
    let network: PodNetwork;
    let volume: PersistentVolume;
    let pod: Pod | undefined;
    let prometheus: ChildProcess | undefined;
    let dir: string;
    let api: string;

    before(async () => {
        const plan = await planOf("hanzo-k8s");
        // The plan's NetworkPolicies enforced: Prometheus scrapes from the node, which policies never block.
        network = await clusterNetwork(plan);
        volume = PersistentVolume.fresh();
        pod = await startServerPod(plan, network, volume);
        await pod.waitReady();
        applyInitSql(plan, pod, secretOf(plan, "hanzo", "postgres-credentials").password);

        const monitor = plan.plan.resources.find((r) => (r.inputs as any).kind === "PodMonitor")!.inputs as any;
        const rule = plan.plan.resources.find(
            (r) => (r.inputs as any).kind === "PrometheusRule" && (r.inputs as any).metadata.name === "postgres-alerts",
        )!.inputs as any;
        const endpoint = monitor.spec.podMetricsEndpoints[0];
        const container = pod.container("exporter").spec;
        const port = container.ports!.find((p) => p.name === endpoint.port)!.containerPort;
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-prometheus-"));
        fs.writeFileSync(path.join(dir, "rules.yml"), yaml.dump({ groups: rule.spec.groups }));
        fs.writeFileSync(
            path.join(dir, "prometheus.yml"),
            yaml.dump({
                // The PodMonitor's own scrapeTimeout (a stopped server makes a scrape take over a second),
                // and as short an interval as Prometheus allows with it; rules evaluated every second.
                global: { scrape_interval: endpoint.scrapeTimeout, evaluation_interval: "1s" },
                rule_files: [path.join(dir, "rules.yml")],
                scrape_configs: [
                    {
                        job_name: `${monitor.metadata.namespace}/${monitor.metadata.name}`,
                        metrics_path: endpoint.path ?? "/metrics",
                        scrape_timeout: endpoint.scrapeTimeout,
                        static_configs: [
                            { targets: [`${pod.ip}:${port}`], labels: { namespace: "hanzo", pod: pod.name, container: "exporter" } },
                        ],
                    },
                ],
            }),
        );
        const webPort = await freePort();
        api = `http://127.0.0.1:${webPort}/api/v1`;
        prometheus = spawn(
            PROMETHEUS,
            [
                `--config.file=${path.join(dir, "prometheus.yml")}`,
                `--storage.tsdb.path=${path.join(dir, "data")}`,
                `--web.listen-address=127.0.0.1:${webPort}`,
            ],
            { stdio: "ignore" },
        );
        for (let i = 0; i < 100; i++) {
            if (
                await get(`${api}/status/buildinfo`).then(
                    () => true,
                    () => false,
                )
            ) {
                break;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
    });
    after(async () => {
        prometheus?.kill("SIGTERM");
        await pod?.stop(5).catch(() => undefined);
        network?.destroy();
        volume?.remove();
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    /** Polls until the value of a PromQL query satisfies `ok` (bounded). */
    async function until(query: string, ok: (v: any[]) => boolean, timeoutMs: number): Promise<any[]> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const r = await get(`${api}/query?query=${encodeURIComponent(query)}`);
            const v = r.data?.result ?? [];
            if (ok(v)) {
                return v;
            }
            if (Date.now() > deadline) {
                throw new Error(`${query}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
            }
            await new Promise((res) => setTimeout(res, 1000));
        }
    }

    it("scrapes pg_up 1 as the monitoring role, the rule groups loaded, no alert firing", async () => {
        const up = await until('pg_up{namespace="hanzo"}', (v) => v.length === 1 && v[0].value[1] === "1", 60_000);
        assert.deepStrictEqual(up[0].metric, {
            __name__: "pg_up",
            namespace: "hanzo",
            pod: "postgres-0",
            container: "exporter",
            instance: `${pod!.ip}:9187`,
            job: "hanzo/postgres",
        });
        const rules = await get(`${api}/rules`);
        const names = rules.data.groups.flatMap((g: any) => g.rules.map((r: any) => r.name)).sort();
        assert.deepStrictEqual(names, [
            "PostgresBackendBufferWrites",
            "PostgresDatabaseTooLarge",
            "PostgresDown",
            "PostgresExporterDown",
            "PostgresTooManyConnections",
        ]);
        assert.deepStrictEqual(await until('ALERTS{alertstate="firing"}', () => true, 0), []);
    });

    it("fires PostgresDown after the server container stops, and clears it when the kubelet restarts it", async () => {
        const server = pod!.container("postgres");
        server.signal(server.image.stopSignal);
        assert.strictEqual(await server.wait(), 0);
        await until('pg_up{namespace="hanzo"}', (v) => v.length === 1 && v[0].value[1] === "0", 60_000).catch(async (e) => {
            const scrape = await new Promise<string>((resolve) =>
                http
                    .get(`http://${pod!.ip}:9187/metrics`, (res) => {
                        let b = "";
                        res.on("data", (d) => (b += d));
                        res.on("end", () => resolve(`${res.statusCode} ${b.slice(0, 1500)}`));
                    })
                    .on("error", (x) => resolve(x.message)),
            );
            throw new Error(
                `${e.message}\nup: ${JSON.stringify(await until("up", () => true, 0))}\ntargets: ${JSON.stringify((await get(`${api}/targets`)).data.activeTargets.map((t: any) => [t.lastError, t.lastScrapeDuration]))}\nscrape: ${scrape.slice(0, 100)}`,
            );
        });
        const firing = await until('ALERTS{alertname="PostgresDown", alertstate="firing"}', (v) => v.length === 1, 120_000);
        assert.deepStrictEqual(firing[0].metric, {
            __name__: "ALERTS",
            alertname: "PostgresDown",
            alertstate: "firing",
            namespace: "hanzo",
            pod: "postgres-0",
            severity: "critical",
        });
        await pod!.restartContainer("postgres");
        await pod!.waitReady();
        await until('pg_up{namespace="hanzo"}', (v) => v.length === 1 && v[0].value[1] === "1", 60_000);
        await until('ALERTS{alertname="PostgresDown"}', (v) => v.length === 0, 60_000);
    });
});
