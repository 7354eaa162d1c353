import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { S3Server } from "../../tools/local/s3";
import { PG_BIN } from "../../tools/pg/server";
import { namespaceData, workload } from "../../tools/pod/plan";
import { PROJECT_DIR } from "../../tools/plan/stackFile";
import type { PlanResult } from "../../tools/plan/runner";
import { planWith } from "../support/plan";
import { PersistentVolume, Pod, PodNetwork, applyInitSql, connectTo, rolePasswords, secretOf, startServerPod } from "../support/pods";

const BUCKET = "hanzo-k8s-postgres-backups";
const DATABASES = ["cloud", "console", "hanzo_cloud", "iam", "kms", "platform"];

/** The README's restore block, exactly as written. */
function readmeRestoreBlock(): string {
    const readme = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");
    const m = /\*\*Restore\*\*[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme);
    assert.ok(m, "README has a Restore block");
    return m[1];
}

/**
 * A stand-in for `kubectl -n NS get secret|configmap NAME -o jsonpath={.data.KEY}` answering from the
 * plan's objects (no API server runs here): a Secret's data base64-encoded, a ConfigMap's as is, as the API
 * server returns them.
 */
function kubectlStandIn(dir: string, plan: PlanResult): void {
    const { secrets, configMaps } = namespaceData(plan, "hanzo");
    const objects = {
        secret: Object.fromEntries([...secrets].map(([n, d]) => [n, Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v).toString("base64")]))])),
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
 * The backup CronJob's pod of hanzo-k8s (pointed at an S3 API of its own, s3rver on the pod network's
 * gateway) run as declared against the server pod, then the README's restore procedure as written into a
 * second server pod on a fresh volume (the drill), checked by `npm run verify`.
 */
describe("pods: the backup CronJob's pod, and the README's restore into a scratch server pod", function () {
    this.timeout(600_000);
    let network: PodNetwork;
    let s3: S3Server;
    let plan: PlanResult;
    const volumes: PersistentVolume[] = [];
    const pods: Pod[] = [];
    let work: string;

    before(async () => {
        network = PodNetwork.create();
        s3 = await S3Server.start(BUCKET, network.gateway);
        const stackFile = yaml.load(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.hanzo-k8s.yaml"), "utf8")) as { config: Record<string, unknown> };
        const values = Object.fromEntries(Object.entries(stackFile.config).map(([k, v]) => [k.replace(/^hanzo-sql:/, ""), v]));
        plan = await planWith("hanzo-k8s", { ...values, backupEndpoint: s3.endpoint, backupAccessKeyId: "S3RVER", backupSecretAccessKey: "S3RVER" }, ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"]);
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-restore-"));
    });
    after(async () => {
        for (const p of pods.reverse()) {
            await p.stop(5).catch(() => undefined);
        }
        await s3?.stop();
        network?.destroy();
        volumes.forEach((v) => v.remove());
        if (work) {
            fs.rmSync(work, { recursive: true, force: true });
        }
    });

    async function serverPod(): Promise<Pod> {
        const v = PersistentVolume.fresh();
        volumes.push(v);
        const pod = await startServerPod(plan, network, v);
        pods.push(pod);
        await pod.waitReady();
        applyInitSql(plan, pod, secretOf(plan, "hanzo", "postgres-credentials").password);
        return pod;
    }

    it("dumps every database over the pod network and uploads the dumps, then the manifest, to the bucket", async () => {
        const server = await serverPod();
        const iam = await connectTo(server.ip, 5432, "iam_user", rolePasswords(plan).iam_user, "iam");
        await iam.query("CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 500) g");
        await iam.end();

        const w = workload(plan, "CronJob", "postgres-backup");
        const { secrets, configMaps } = namespaceData(plan, w.namespace);
        const job = await Pod.start({ name: "postgres-backup-1-abcde", namespace: w.namespace, spec: w.spec, network, secrets, configMaps });
        pods.push(job);
        const done = await job.waitCompleted(300_000);
        assert.deepStrictEqual(job.initResults.map((r) => [r.name, r.status]), [["dump", 0], ["upload", 0]], job.initResults.map((r) => r.logs).join("\n"));
        assert.deepStrictEqual(done, { report: 0 }, job.container("report").logs());
        assert.match(job.initResults[0].logs, new RegExp(`dumped ${DATABASES.length} of ${DATABASES.length} databases`));
        const keys = s3.keys("postgres/");
        const ts = keys[0].split("/")[1];
        assert.deepStrictEqual(keys, [...DATABASES.map((d) => `postgres/${ts}/${d}.dump`), `postgres/${ts}/manifest.json`].sort());
        await job.stop(1);
    });

    it("restores by the README's procedure, as written, into a server pod on a fresh volume, which then passes npm run verify", async () => {
        const scratch = await serverPod();
        const bin = path.join(work, "bin");
        fs.mkdirSync(bin);
        kubectlStandIn(bin, plan);
        const block = readmeRestoreBlock()
            .replace("https://nyc3.digitaloceanspaces.com", s3.endpoint)
            .replace(/PGHOST=127\.0\.0\.1/, `PGHOST=${scratch.ip}`);
        // Asynchronously: the S3 server answers from this process.
        const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
            const child = spawn("bash", ["-e", "-c", block], { cwd: work, stdio: ["ignore", "pipe", "pipe"], env: { PATH: `${bin}:${PG_BIN}:/usr/bin:/bin`, HOME: work } });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", (status) => resolve({ status, out }));
        });
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, new RegExp(`restored ${DATABASES.length} databases`));

        const iam = await connectTo(scratch.ip, 5432, "iam_user", rolePasswords(plan).iam_user, "iam");
        const rows = (await iam.query("SELECT count(*)::int AS n, max(name) AS last, pg_get_userbyid(relowner) AS owner FROM users, pg_class WHERE relname = 'users' GROUP BY relowner")).rows;
        assert.deepStrictEqual(rows, [{ n: 500, last: "user 99", owner: "iam_user" }]);
        await iam.end();

        const adminUrl = `postgresql://hanzo:${encodeURIComponent(secretOf(plan, "hanzo", "postgres-credentials").password)}@${scratch.ip}:5432/postgres?sslmode=disable`;
        const verify = spawnSync("node", [path.join(PROJECT_DIR, "build", "tools", "verify.js"), "--stack", "hanzo-k8s", "--url", adminUrl], { encoding: "utf8", cwd: PROJECT_DIR });
        assert.strictEqual(verify.status, 0, verify.stdout + verify.stderr);
    });
});
