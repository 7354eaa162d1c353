import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { S3Server } from "../harness/local/s3";
import { PG_BIN } from "../harness/pg/server";
import * as net from "net";
import { networkPolicies, namespaceData, workload } from "../harness/pod/plan";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import type { PlanResult } from "../../cli/plan/runner";
import { codeBlocks, readDoc, section } from "../support/docs";
import { Pod, PodNetwork, applyInitSql, canConnect, connectTo, rolePasswords, secretOf } from "../support/pods";
import { BACKUP_BUCKET, PodCluster, planWithBucket } from "../support/podCluster";

const BUCKET = BACKUP_BUCKET;
const DATABASES = ["cloud", "console", "hanzo_cloud", "iam", "kms", "platform"];

/** The restore procedure of docs/backups.md, exactly as written: its steps' shell blocks, in order, as one script. */
function restoreProcedure(): string {
    const blocks = codeBlocks(section(readDoc("docs/backups.md"), "Restore"), "sh");
    assert.strictEqual(blocks.length, 3, "docs/backups.md's Restore has three shell steps: copy the scripts, fetch, restore");
    return blocks.join("\n");
}

/**
 * A stand-in for `kubectl -n NS get secret|configmap NAME -o jsonpath={.data.KEY}` answering from the
 * plan's objects (no API server runs here): a Secret's data base64-encoded, a ConfigMap's as is, as the API
 * server returns them.
 */
function kubectlStandIn(dir: string, plan: PlanResult): void {
    const { secrets, configMaps } = namespaceData(plan, "hanzo");
    const objects = {
        secret: Object.fromEntries(
            [...secrets].map(([n, d]) => [
                n,
                Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
            ]),
        ),
        configmap: Object.fromEntries(configMaps),
    };
    fs.writeFileSync(path.join(dir, "objects.json"), JSON.stringify(objects), { mode: 0o600 });
    fs.writeFileSync(
        path.join(dir, "kubectl"),
        `#!/usr/bin/env node
const objects = require(${JSON.stringify(path.join(dir, "objects.json"))});
const a = process.argv.slice(2);
if (a[0] !== "-n" || a[1] !== "hanzo" || a[2] !== "get" || a[5] !== "-o") { console.error("kubectl stand-in: unsupported " + a.join(" ")); process.exit(2); }
const m = /^jsonpath=\\{\\.data\\.(.*)\\}$/.exec(a[6] || "");
const obj = (objects[a[3]] || {})[a[4]];
if (!m || !obj) { console.error("Error from server (NotFound): " + a[3] + " " + a[4]); process.exit(1); }
const key = m[1].replace(/\\\\\\./g, ".");
process.stdout.write(obj[key] === undefined ? "" : obj[key]);
`,
        { mode: 0o755 },
    );
}

/**
 * The backup CronJob's pod of hanzo-k8s run as declared against the server pod, with every NetworkPolicy
 * of the plan enforced and names resolved by the cluster DNS stand-in, then the restore procedure of docs/backups.md
 * as written into a second server pod on a fresh volume (the drill), checked by `npm run verify`.
 *
 * The bucket is the in-cluster shape of `backupEndpoint`: `http://minio.minio.svc:<port>`, s3rver standing
 * in for MinIO as a member of namespace `minio` with an address of its own; the backup pods' policy admits
 * that namespace on that port. The external shape (Spaces: 0.0.0.0/0 and ::/0 minus private, link-local
 * and cluster ranges, on 443) cannot be reached from here; its rule is asserted as data
 * (test/program/hardening.test.ts) and its ipBlock/except semantics are enforced by the same code below.
 */
describe("pods: the backup CronJob's pod, and the documented restore into a scratch server pod", function () {
    this.timeout(600_000);
    let cluster: PodCluster;
    let network: PodNetwork;
    let s3: S3Server;
    let plan: PlanResult;
    let work: string;
    let minio: string;
    let endpoint: string;
    const listeners: net.Server[] = [];

    /** A TCP listener at an address of the host (the node, or a member's own address). */
    async function listen(address: string): Promise<number> {
        const server = net.createServer((s) => s.end());
        listeners.push(server);
        await new Promise<void>((resolve) => server.listen(0, address, () => resolve()));
        return (server.address() as net.AddressInfo).port;
    }

    before(async () => {
        // The port first (the policy names it), from a plan that does not depend on it.
        ({ cluster, plan } = await PodCluster.withMinio(BUCKET, (url) => planWithBucket(url)));
        network = cluster.network;
        s3 = cluster.s3!;
        minio = cluster.minio;
        endpoint = cluster.endpoint;
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-restore-"));
    });
    after(async () => {
        listeners.forEach((l) => l.close());
        await cluster?.destroy();
        if (work) {
            fs.rmSync(work, { recursive: true, force: true });
        }
    });

    async function serverPod(): Promise<Pod> {
        const pod = await cluster.startServer(plan);
        await pod.waitReady();
        applyInitSql(plan, pod, secretOf(plan, "hanzo", "postgres-credentials").password);
        return pod;
    }

    let primary: Pod;

    it("dumps every database over the pod network and uploads the dumps, then the manifest, to the bucket", async () => {
        const server = await serverPod();
        primary = server;
        const iam = await connectTo(server.ip, 5432, "iam_user", rolePasswords(plan).iam_user, "iam");
        await iam.query(
            "CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 500) g",
        );
        await iam.end();

        const w = workload(plan, "CronJob", "postgres-backup");
        assert.strictEqual(
            w.spec.initContainers!.find((c) => c.name === "upload")!.env!.find((e) => e.name === "S3_ENDPOINT")?.value,
            endpoint,
        );
        const job = await cluster.startJob(plan, "postgres-backup", "postgres-backup-1-abcde");
        const done = await job.waitCompleted(300_000);
        assert.deepStrictEqual(
            job.initResults.map((r) => [r.name, r.status]),
            [
                ["dump", 0],
                ["upload", 0],
            ],
            job.initResults.map((r) => r.logs).join("\n"),
        );
        assert.deepStrictEqual(done, { report: 0 }, job.container("report").logs());
        assert.match(job.initResults[0].logs, new RegExp(`dumped ${DATABASES.length} of ${DATABASES.length} databases`));
        const keys = s3.keys("postgres/");
        const ts = keys[0].split("/")[1];
        assert.deepStrictEqual(keys, [...DATABASES.map((d) => `postgres/${ts}/${d}.dump`), `postgres/${ts}/manifest.json`].sort());
        await job.stop(1);
    });

    it("runs the restore drill CronJob's pod: fetches the newest backup, restores every database into a scratch server inside the pod, checks it, and records each result in the server", async () => {
        const job = await cluster.startJob(plan, "postgres-restore-drill", "postgres-restore-drill-1-abcde");
        const done = await job.waitCompleted(300_000);
        assert.deepStrictEqual(
            job.initResults.map((r) => [r.name, r.status]),
            [["fetch", 0]],
            job.initResults.map((r) => r.logs).join("\n"),
        );
        const logs = job.container("drill").logs();
        assert.deepStrictEqual(done, { drill: 0 }, logs);
        for (const db of DATABASES) {
            assert.match(logs, new RegExp(`drill ${db}: restored, required tables present, row counts match`), logs);
        }
        await job.stop(1);
        // What the exporter reads (hanzo_backup.status), written by the drill's report over the pod network.
        const admin = await connectTo(primary.ip, 5432, "hanzo", secretOf(plan, "hanzo", "postgres-credentials").password, "postgres");
        const rows = (
            await admin.query(
                "SELECT database, ok, last_success IS NOT NULL AS succeeded FROM hanzo_backup.status WHERE kind = 'drill' ORDER BY database",
            )
        ).rows;
        await admin.end();
        assert.deepStrictEqual(
            rows,
            DATABASES.map((database) => ({ database, ok: true, succeeded: true })),
        );
    });

    it("restores by the procedure of docs/backups.md, as written, into a server pod on a fresh volume, which then passes npm run verify", async () => {
        const scratch = await serverPod();
        const bin = path.join(work, "bin");
        fs.mkdirSync(bin);
        kubectlStandIn(bin, plan);
        const written = restoreProcedure();
        // Only the endpoint and the server's address differ from the docs; both are there to replace.
        assert.ok(written.includes("S3_ENDPOINT=https://nyc3.digitaloceanspaces.com ") && /PGHOST=127\.0\.0\.1 /.test(written), written);
        const block = written
            // From the operator's machine (the host), the bucket by its address.
            .replace("https://nyc3.digitaloceanspaces.com", s3.endpoint)
            .replace(/PGHOST=127\.0\.0\.1/, `PGHOST=${scratch.ip}`);
        // Asynchronously: the S3 server answers from this process.
        const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
            const child = spawn("bash", ["-e", "-c", block], {
                cwd: work,
                stdio: ["ignore", "pipe", "pipe"],
                env: { PATH: `${bin}:${PG_BIN}:/usr/bin:/bin`, HOME: work },
            });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", (status) => resolve({ status, out }));
        });
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, new RegExp(`restored ${DATABASES.length} databases`));

        const iam = await connectTo(scratch.ip, 5432, "iam_user", rolePasswords(plan).iam_user, "iam");
        const rows = (
            await iam.query(
                "SELECT count(*)::int AS n, max(name) AS last, pg_get_userbyid(relowner) AS owner FROM users, pg_class WHERE relname = 'users' GROUP BY relowner",
            )
        ).rows;
        assert.deepStrictEqual(rows, [{ n: 500, last: "user 99", owner: "iam_user" }]);
        await iam.end();

        const adminUrl = `postgresql://hanzo:${encodeURIComponent(secretOf(plan, "hanzo", "postgres-credentials").password)}@${scratch.ip}:5432/postgres?sslmode=disable`;
        const verify = spawnSync("node", [path.join(PROJECT_DIR, "build", "cli", "verify.js"), "--stack", "hanzo-k8s", "--url", adminUrl], {
            encoding: "utf8",
            cwd: PROJECT_DIR,
        });
        assert.strictEqual(verify.status, 0, verify.stdout + verify.stderr);
    });

    /**
     * A pod with the backup CronJob's labels (so its policies apply) and its image, whose one container
     * only waits: connections are tried from inside it.
     */
    function backupLikePod(name: string, labels = workload(plan, "CronJob", "postgres-backup").labels): Promise<Pod> {
        return cluster.startProbe(plan, "postgres-backup", name, labels);
    }

    it("lets the backup pod reach only the server on 5432, the bucket's namespace on its port, and DNS: the node, another port, another namespace are dropped", async () => {
        // The Service's name follows the newest server pod (the restore's scratch server).
        const server = cluster.pods.filter((p) => p.name === "postgres-0").pop()!;
        const onNode = await listen(network.gateway);
        const otherPort = await listen(minio);
        const elsewhere = network.addMember({ namespace: "billing", labels: { app: "billing" }, ports: [] });
        const inElsewhere = await listen(elsewhere);
        const job = (await backupLikePod("postgres-backup-probe")).container("probe");
        const dns = await job.exec(["getent", "hosts", "postgres.hanzo.svc.cluster.local", "minio.minio.svc.cluster.local"]);
        assert.strictEqual(
            dns.stdout.replace(/\s+/g, " ").trim(),
            `${server.ip} postgres.hanzo.svc.cluster.local ${minio} minio.minio.svc.cluster.local`,
            `exit ${dns.status}: ${dns.stderr}`,
        );
        // Over TCP too (glibc's use-vc option), as a resolver does for an answer too large for UDP.
        const tcp = await job.exec(["env", "RES_OPTIONS=use-vc", "getent", "hosts", "postgres.hanzo.svc.cluster.local"]);
        assert.strictEqual(
            tcp.stdout.replace(/\s+/g, " ").trim(),
            `${server.ip} postgres.hanzo.svc.cluster.local`,
            `exit ${tcp.status}: ${tcp.stderr}`,
        );
        assert.deepStrictEqual(
            [
                await canConnect(job, "postgres.hanzo.svc", 5432),
                await canConnect(job, "minio.minio.svc", s3.port),
                await canConnect(job, network.gateway, onNode),
                await canConnect(job, minio, otherPort),
                await canConnect(job, elsewhere, inElsewhere),
                await canConnect(job, server.ip, 22),
            ],
            [true, true, false, false, false, false],
        );
        // The same pod unselected by any policy reaches all of them: the drops are the policy's.
        const free = (await backupLikePod("unselected-probe", { app: "unselected" })).container("probe");
        assert.deepStrictEqual(
            [
                await canConnect(free, network.gateway, onNode),
                await canConnect(free, minio, otherPort),
                await canConnect(free, elsewhere, inElsewhere),
            ],
            [true, true, true],
        );
        await Promise.all(cluster.pods.slice(-2).map((p) => p.stop(1)));
    });

    it("needs each rule: without the DNS rule the server's name does not resolve, without the server rule 5432 is dropped", async () => {
        const rendered = networkPolicies(plan);
        const own = rendered.find((np) => np.metadata.name === "postgres-backup-egress")!;
        for (const [dropped, check] of [
            [2, ["getent", "hosts", "postgres.hanzo.svc.cluster.local"]],
            [0, ["bash", "-c", `exec 3<>/dev/tcp/${cluster.pods[0].ip}/5432`]],
        ] as const) {
            const egress = own.spec.egress!.filter((_, i) => i !== dropped);
            network.enforce(rendered.map((np) => (np === own ? { ...np, spec: { ...np.spec, egress } } : np)));
            try {
                const pod = await backupLikePod(`postgres-backup-without-${dropped}`);
                const r = await pod.container("probe").exec(["timeout", "3", ...check], 10_000);
                await pod.stop(1);
                assert.notStrictEqual(r.status, 0, `${check.join(" ")} succeeded without egress rule ${dropped}`);
            } finally {
                network.enforce(rendered);
            }
        }
    });
});
