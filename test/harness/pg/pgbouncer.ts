/**
 * A throwaway PgBouncer for tests and benchmarks: the pgbouncer.ini the program renders, pointed at a local
 * server and listening on a free loopback port, run as the `postgres` user. It is PgBouncer >= 1.21 (the
 * rendered ini needs `max_prepared_statements`), built from Debian's newer-suite source package by
 * scripts/install-test-deps.sh beside bookworm's 1.18.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { renderUserlist } from "../../../render/pgbouncer";
import { PROJECT_DIR } from "../../../cli/plan/stackFile";
import { PgServer, freePort } from "./server";

/** HANZO_SQL_PGBOUNCER runs another build (e.g. Debian's 1.18, /usr/sbin/pgbouncer, to see what it breaks). */
export const PGBOUNCER_BIN = process.env.HANZO_SQL_PGBOUNCER ?? "/usr/local/lib/hanzo-sql/pgbouncer/bin/pgbouncer";

/** Makes sure PgBouncer >= 1.21 is there, building it (as root) with scripts/install-test-deps.sh when missing. */
export function ensurePgbouncer(): void {
    if (fs.existsSync(PGBOUNCER_BIN)) {
        return;
    }
    if (process.getuid?.() !== 0) {
        throw new Error(
            `${PGBOUNCER_BIN} is missing and this is not root: run scripts/install-test-deps.sh as root (it builds PgBouncer >= 1.21 from Debian's source package)`,
        );
    }
    const r = spawnSync("bash", [path.join(PROJECT_DIR, "scripts", "install-test-deps.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0 || !fs.existsSync(PGBOUNCER_BIN)) {
        throw new Error(`scripts/install-test-deps.sh failed (exit ${r.status})`);
    }
}

/**
 * The userlist components/pooler.ts gives PgBouncer, of the verifiers `server` holds for `roles` right now: for a
 * server whose passwords a test set itself (with salts of its own), where the plan's Secret would not match.
 */
export async function serverUserlist(server: PgServer, roles: readonly string[]): Promise<string> {
    const admin = await server.admin();
    try {
        const rows = (
            await admin.query<{ rolname: string; rolpassword: string | null }>(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1)",
                [roles],
            )
        ).rows;
        const verifiers = new Map(rows.map((r) => [r.rolname, r.rolpassword ?? ""]));
        return renderUserlist(roles.map((user) => ({ user, verifier: verifiers.get(user) ?? "" })));
    } finally {
        await admin.end();
    }
}

export class PgbouncerServer {
    private constructor(
        private readonly child: ChildProcess,
        readonly dir: string,
        readonly port: number,
    ) {}

    /**
     * Starts PgBouncer with a rendered pgbouncer.ini: its databases are pointed at 127.0.0.1:`serverPort`
     * (or, given a map from the ini's in-cluster host to a port, each host at its own port, the way the
     * cluster's DNS leads `postgres` and `postgres-ro` to different pods), it listens on 127.0.0.1, and reads
     * `userlist` from its own directory; every other line is unchanged.
     */
    static async start(ini: string, userlist: string, serverPort: number | Readonly<Record<string, number>>): Promise<PgbouncerServer> {
        ensurePgbouncer();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pgbouncer-"));
        const port = await freePort();
        const portOf = (host: string): number => {
            if (typeof serverPort === "number") {
                return serverPort;
            }
            if (serverPort[host] === undefined) {
                throw new Error(`pgbouncer.ini names host ${host}, which the test gave no port`);
            }
            return serverPort[host];
        };
        const local = ini
            .replace(/host=(\S+) port=\d+/g, (_, host: string) => `host=127.0.0.1 port=${portOf(host)}`)
            .replace(/^listen_addr = .*$/m, "listen_addr = 127.0.0.1")
            .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
            .replace(/^auth_file = .*$/m, `auth_file = ${path.join(dir, "userlist.txt")}\npidfile = ${path.join(dir, "pgbouncer.pid")}`);
        fs.writeFileSync(path.join(dir, "pgbouncer.ini"), local);
        fs.writeFileSync(path.join(dir, "userlist.txt"), userlist, { mode: 0o600 });
        const root = process.getuid?.() === 0;
        if (root) {
            execFileSync("chown", ["-R", "postgres:postgres", dir]);
        }
        // Enough descriptors for a thousand clients and their server connections.
        const cmd = `ulimit -n 8192; exec ${PGBOUNCER_BIN} ${path.join(dir, "pgbouncer.ini")}`;
        const child = root
            ? spawn("runuser", ["-u", "postgres", "--", "bash", "-c", cmd], { stdio: "ignore" })
            : spawn("bash", ["-c", cmd], { stdio: "ignore" });
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
        // Its own pid (runuser does not always pass the signal on), then the runuser/bash parent.
        try {
            process.kill(Number(fs.readFileSync(path.join(this.dir, "pgbouncer.pid"), "utf8").trim()), "SIGTERM");
        } catch {
            // already gone
        }
        this.child.kill("SIGTERM");
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
