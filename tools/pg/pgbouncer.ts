/**
 * A throwaway PgBouncer (Debian's, 1.18) for tests and benchmarks: the pgbouncer.ini the program renders,
 * pointed at a local server and listening on a free loopback port, run as the `postgres` user.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { freePort } from "./server";

export const PGBOUNCER_BIN = "/usr/sbin/pgbouncer";

export class PgbouncerServer {
    private constructor(private readonly child: ChildProcess, readonly dir: string, readonly port: number) {}

    /**
     * Starts PgBouncer with a rendered pgbouncer.ini: its databases are pointed at 127.0.0.1:`serverPort`,
     * it listens on 127.0.0.1, and reads `userlist` from its own directory; every other line is unchanged.
     */
    static async start(ini: string, userlist: string, serverPort: number): Promise<PgbouncerServer> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pgbouncer-"));
        const port = await freePort();
        const local = ini
            .replace(/host=\S+ port=\d+/g, `host=127.0.0.1 port=${serverPort}`)
            .replace(/^listen_addr = .*$/m, "listen_addr = 127.0.0.1")
            .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
            .replace(/^auth_file = .*$/m, `auth_file = ${path.join(dir, "userlist.txt")}`);
        fs.writeFileSync(path.join(dir, "pgbouncer.ini"), local);
        fs.writeFileSync(path.join(dir, "userlist.txt"), userlist, { mode: 0o600 });
        const root = process.getuid?.() === 0;
        if (root) {
            execFileSync("chown", ["-R", "postgres:postgres", dir]);
        }
        // Enough descriptors for a thousand clients and their server connections.
        const cmd = `ulimit -n 8192; exec ${PGBOUNCER_BIN} ${path.join(dir, "pgbouncer.ini")}`;
        const child = root ? spawn("runuser", ["-u", "postgres", "--", "bash", "-c", cmd], { stdio: "ignore" }) : spawn("bash", ["-c", cmd], { stdio: "ignore" });
        for (let i = 0; i < 100; i++) {
            const up = await new Promise<boolean>((resolve) => {
                const s = net.connect({ host: "127.0.0.1", port }, () => (s.end(), resolve(true)));
                s.on("error", () => resolve(false));
            });
            if (up) {
                return new PgbouncerServer(child, dir, port);
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        child.kill();
        throw new Error("pgbouncer did not start");
    }

    stop(): void {
        this.child.kill("SIGTERM");
        try {
            execFileSync("pkill", ["-f", path.join(this.dir, "pgbouncer.ini")]);
        } catch {
            // already gone
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
