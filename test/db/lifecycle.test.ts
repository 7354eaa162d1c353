import * as assert from "assert";
import { spawnSync } from "child_process";
import { Client } from "pg";
import { PGDATA } from "../../components/postgresInstance";
import { PG_BIN } from "../../tools/pg/server";
import { StackServer, stackServer, tryConnect } from "../support/db";
import { TYPES, resource } from "../support/plan";

/**
 * The StatefulSet's probe and preStop commands, as rendered, run against a real server: the probes answer,
 * and the preStop's fast shutdown finishes with a client connected, where the "smart" shutdown Kubernetes'
 * SIGTERM asks for would wait for that client until the grace period ran out (STANDARD defect 11).
 */
describe("the server container's probes and preStop, on a real server", function () {
    this.timeout(120_000);
    let s: StackServer;
    let container: any;

    before(async () => {
        s = await stackServer("hanzo-k8s");
        container = (resource(s.plan, TYPES.statefulSet, "hanzo-sql-postgres-statefulset").inputs as any).spec.template.spec.containers[0];
    });
    after(() => s?.server.stop());

    /** A probe command in the pod's shape, pointed at this server's socket and port. */
    const probe = (command: string[]) => {
        const r = spawnSync(`${PG_BIN}/${command[0]}`, command.slice(1), { encoding: "utf8", env: { PGHOST: s.server.socketDir, PGPORT: String(s.server.port) } });
        return { status: r.status, out: r.stdout.trim() };
    };

    it("answers the startup, liveness and readiness probes while the server runs", () => {
        for (const name of ["startupProbe", "livenessProbe", "readinessProbe"]) {
            const r = probe(container[name].exec.command);
            assert.strictEqual(r.status, 0, `${name}: ${r.out}`);
            assert.match(r.out, /accepting connections$/);
        }
    });

    it("stops fast with a client connected, where a smart shutdown would wait for it", async () => {
        const client = (await tryConnect(s.server.tcp("iam_user", s.passwords.iam_user, "iam"))) as Client;
        assert.ok(client instanceof Client);
        client.on("error", () => undefined); // the server will end this session
        const smart = s.server.runAsPostgres(`${PG_BIN}/pg_ctl`, ["stop", "-D", s.server.dataDir, "-m", "smart", "-w", "-t", "3"]);
        assert.strictEqual(smart.status, 1, "a smart shutdown waits for the connected client");
        assert.match(smart.stdout + smart.stderr, /server does not shut down/);

        const preStop = container.lifecycle.preStop.exec.command as string[];
        assert.deepStrictEqual(preStop, ["pg_ctl", "stop", "-D", PGDATA, "-m", "fast", "-w", "-t", "110"]);
        const args = preStop.slice(1).map((a) => (a === PGDATA ? s.server.dataDir : a));
        const t0 = Date.now();
        const fast = s.server.runAsPostgres(`${PG_BIN}/pg_ctl`, args);
        assert.strictEqual(fast.status, 0, fast.stderr);
        assert.match(fast.stdout, /server stopped/);
        assert.ok(Date.now() - t0 < 30_000, "well within the grace period");
        assert.strictEqual(probe(container.livenessProbe.exec.command).status, 2, "nothing answers any more");
        await client.end().catch(() => undefined);
    });
});
