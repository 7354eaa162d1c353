import * as assert from "assert";
import { spawnSync } from "child_process";
import { Client } from "pg";
import { PG_BIN } from "../harness/pg/server";
import { StackServer, stackServer, tryConnect } from "../support/db";
import { TYPES, resource } from "../support/plan";

/**
 * The StatefulSet's probe commands, as rendered, run against a real server, and its stop path: the image's
 * STOPSIGNAL (SIGINT) is the fast shutdown, which finishes with a client connected, where the "smart"
 * shutdown SIGTERM asks for would wait for that client until the grace period ran out (STANDARD defects 11
 * and 17). test/pods/server.test.ts runs the same in the pod, as the kubelet stops it.
 */
describe("the server container's probes and stop signal, on a real server", function () {
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
        const r = spawnSync(`${PG_BIN}/${command[0]}`, command.slice(1), {
            encoding: "utf8",
            env: { PGHOST: s.server.socketDir, PGPORT: String(s.server.port) },
        });
        return { status: r.status, out: r.stdout.trim() };
    };

    it("answers the startup, liveness and readiness probes while the server runs", () => {
        for (const name of ["startupProbe", "livenessProbe", "readinessProbe"]) {
            const r = probe(container[name].exec.command);
            assert.strictEqual(r.status, 0, `${name}: ${r.out}`);
            assert.match(r.out, /accepting connections$/);
        }
    });

    it("stops fast on SIGINT (the image's STOPSIGNAL) with a client connected, where SIGTERM's smart shutdown waits for it", async () => {
        assert.strictEqual(container.lifecycle, undefined, "no preStop hook: the stop signal alone stops the server");
        const client = (await tryConnect(s.server.tcp("iam_user", s.passwords.iam_user, "iam"))) as Client;
        assert.ok(client instanceof Client);
        client.on("error", () => undefined); // the server will end this session
        const smart = s.server.runAsPostgres(`${PG_BIN}/pg_ctl`, ["stop", "-D", s.server.dataDir, "-m", "smart", "-w", "-t", "3"]);
        assert.strictEqual(smart.status, 1, "a smart shutdown (SIGTERM) waits for the connected client");
        assert.match(smart.stdout + smart.stderr, /server does not shut down/);

        // pg_ctl -m fast is exactly SIGINT to the postmaster, what the runtime sends for STOPSIGNAL SIGINT.
        const fast = s.server.runAsPostgres(`${PG_BIN}/pg_ctl`, ["stop", "-D", s.server.dataDir, "-m", "fast", "-w", "-t", "60"]);
        assert.strictEqual(fast.status, 0, fast.stderr);
        assert.match(fast.stdout, /server stopped/);
        assert.match(s.server.log(), /received fast shutdown request[\s\S]*database system is shut down/);
        assert.strictEqual(probe(container.livenessProbe.exec.command).status, 2, "nothing answers any more");
        await client.end().catch(() => undefined);
    });
});
