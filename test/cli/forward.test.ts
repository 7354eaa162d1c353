import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { startForward, type Forward } from "../../cli/forward";
import { PgServer } from "../harness/pg/server";
import { renderedFiles } from "../support/db";
import { planOf } from "../support/plan";

const PG_BIN = "/usr/lib/postgresql/15/bin";

/**
 * A stand-in for `kubectl -n <ns> port-forward pod/<pod> <local>:<remote>`, with kubectl's behaviour towards
 * its pod (the pod is the test's real PostgreSQL server, at FAKE_KUBECTL_TARGET): it refuses to start while
 * the pod does not run ("unable to forward port because pod is not running"), relays each local connection to
 * the pod, and exits as soon as the pod goes away ("lost connection to pod").
 */
const FAKE_KUBECTL = `
const net = require("net");
const args = process.argv.slice(1);
const [local] = args[args.indexOf("port-forward") + 2].split(":").map(Number);
const [host, port] = process.env.FAKE_KUBECTL_TARGET.split(":");
const probe = (then) => { const s = net.connect(Number(port), host); s.once("connect", () => { s.destroy(); then(true); }); s.once("error", () => then(false)); };
probe((up) => {
  if (!up) { process.stderr.write("error: unable to forward port because pod is not running\\n"); process.exit(1); }
  net.createServer((c) => { const u = net.connect(Number(port), host); c.pipe(u); u.pipe(c); u.on("error", () => c.destroy()); c.on("error", () => u.destroy()); })
    .listen(local, "127.0.0.1", () => setInterval(() => probe((ok) => { if (!ok) { process.stderr.write("error: lost connection to pod\\n"); process.exit(1); } }), 100));
});
`;

describe("npm run forward: the admin connection outlives a restart of the server's pod", function () {
    this.timeout(120_000);
    let server: PgServer;
    let forward: Forward;
    let dir: string;
    const log: string[] = [];

    before(async () => {
        server = await PgServer.start(renderedFiles(await planOf("dev")));
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-forward-"));
        process.env.FAKE_KUBECTL_TARGET = `127.0.0.1:${server.port}`;
        forward = await startForward({
            namespace: "hanzo",
            pod: "postgres-0",
            localPort: 0,
            remotePort: server.port,
            waitMs: 60_000,
            kubectl: [process.execPath, "-e", FAKE_KUBECTL, "--"],
            log: (line) => log.push(line),
        });
    });
    after(async () => {
        await forward?.close();
        server?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
        delete process.env.FAKE_KUBECTL_TARGET;
    });

    const through = () => new Client({ ...server.tcp("hanzo", server.adminPassword, "postgres"), port: forward.port });
    const whoAmI = async (c: Client) => (await c.query("SELECT current_user AS u")).rows[0].u;

    it("connects through the forward as the administrator", async () => {
        const c = through();
        await c.connect();
        assert.strictEqual(await whoAmI(c), "hanzo");
        await c.end();
    });

    it("holds a connection made while the pod restarts, and completes it once the pod is back; kubectl is restarted", async () => {
        const open = through();
        await open.connect();
        const openError = new Promise<Error>((resolve) => open.on("error", resolve));
        // The pod goes away: the server stops, the forward's kubectl exits, as with a rollout.
        const stop = server.runAsPostgres(`${PG_BIN}/pg_ctl`, ["stop", "-D", server.dataDir, "-m", "fast", "-w"]);
        assert.strictEqual(stop.status, 0, stop.stderr);
        // The connection open across the restart is lost (as PostgreSQL's own shutdown ends it)...
        assert.match((await openError).message, /terminating connection due to administrator command|Connection terminated/);
        // ...a new one, made while no pod runs, is not refused but held.
        const held = through();
        const connected = held.connect();
        const startsBefore = forward.starts();
        server.resume();
        await connected;
        assert.strictEqual(await whoAmI(held), "hanzo");
        await held.end();
        assert.ok(forward.starts() > startsBefore, `kubectl restarted: ${forward.starts()} starts`);
        assert.ok(
            log.some((l) =>
                /^forward: kubectl port-forward exited \(1\): error: (lost connection to pod|unable to forward port because pod is not running); restarting$/.test(
                    l,
                ),
            ),
            log.join("\n"),
        );
    });

    it("keeps working for every later connection", async () => {
        for (let i = 0; i < 3; i++) {
            const c = through();
            await c.connect();
            assert.strictEqual(await whoAmI(c), "hanzo");
            await c.end();
        }
    });
});
