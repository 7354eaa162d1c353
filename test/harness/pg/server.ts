/**
 * Throwaway PostgreSQL servers for the real-server tests and benchmarks: PostgreSQL 15 from Debian with
 * pgvector (scripts/install-test-deps.sh installs them when missing and we are root), a fresh cluster made
 * by initdb as the `postgres` OS user, started on a free loopback port with the postgresql.conf and
 * pg_hba.conf the program renders, and removed on stop. Never a server someone else started.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import { PROJECT_DIR } from "../../../cli/plan/stackFile";

export const PG_MAJOR = 15;
export const PG_BIN = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
const EXTENSION_DIR = `/usr/share/postgresql/${PG_MAJOR}/extension`;
const INSTALL_SCRIPT = path.join(PROJECT_DIR, "scripts", "install-test-deps.sh");
/** The superuser of a test cluster, as in the clusters. */
export const ADMIN = "hanzo";

const isRoot = () => process.getuid?.() === 0;

/** Every password a test or benchmark has given a server, with whose it is (never printed). */
const KNOWN_SECRETS = new Map<string, string>();

/**
 * Registers a password a test server may be given: at every server's shutdown the harness asserts that
 * neither its log nor pg_stat_statements holds it (as is, percent-encoded or SQL-quoted).
 */
export function registerSecret(value: string, owner: string): void {
    if (value.length >= 8) {
        KNOWN_SECRETS.set(value, owner);
    }
}

/** The owners of the known secrets that occur in `text` (in any of the forms a client or SQL would write). */
export function leakedSecrets(text: string): string[] {
    const found = new Set<string>();
    for (const [value, owner] of KNOWN_SECRETS) {
        if ([value, encodeURIComponent(value), value.replace(/'/g, "''")].some((form) => text.includes(form))) {
            found.add(owner);
        }
    }
    return [...found].sort();
}

/** Makes sure the server binaries and pgvector are there, installing them (as root) when missing. */
export function ensurePostgres(): void {
    const ready = () =>
        fs.existsSync(`${PG_BIN}/postgres`) &&
        fs.existsSync(`${EXTENSION_DIR}/vector.control`) &&
        fs.existsSync(`${EXTENSION_DIR}/pg_trgm.control`);
    if (ready()) {
        return;
    }
    if (!isRoot()) {
        throw new Error(
            `PostgreSQL ${PG_MAJOR} with pgvector is not installed and this is not root: run scripts/install-test-deps.sh as root ` +
                `(apt-get install postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR}, pgvector from Debian's source package), ` +
                "or point TEST_DATABASE_URL at a server you own",
        );
    }
    const r = spawnSync("bash", [INSTALL_SCRIPT], { encoding: "utf8", stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0 || !ready()) {
        throw new Error(`scripts/install-test-deps.sh failed (exit ${r.status})`);
    }
}

/** A free TCP port on 127.0.0.1 (the kernel's choice). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

/** The command line that runs `cmd` as the `postgres` OS user (initdb, postgres and pg_ctl refuse root). */
export function postgresCommand(cmd: string, args: string[]): [string, string[]] {
    return isRoot() ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
}

/** Runs a command as the `postgres` OS user; returns stdout, throws on failure. */
function asPostgres(cmd: string, args: string[]): string {
    const [file, argv] = postgresCommand(cmd, args);
    return execFileSync(file, argv, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

export interface ServerFiles {
    /** postgresql.conf as rendered by the program. */
    readonly postgresqlConf: string;
    /** pg_hba.conf as rendered by the program. */
    readonly pgHba: string;
}

/** initdb's options as the program's StatefulSet passes them (POSTGRES_INITDB_ARGS). */
const DEFAULT_INITDB_ARGS = ["--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--data-checksums"];

export interface StartOptions {
    /** initdb's options besides the data directory, superuser and password (default: the StatefulSet's). */
    readonly initdbArgs?: readonly string[];
    /**
     * Instead of initdb, fills the (empty, postgres-owned) data directory some other way, as the `postgres`
     * OS user: e.g. a pgBackRest restore of another server's backup. The server's administrator then keeps
     * that server's password, given as `adminPassword`.
     */
    readonly populate?: { readonly run: (dataDir: string) => void; readonly adminPassword: string };
}

export class PgServer {
    private stopped = false;

    private constructor(
        readonly dir: string,
        readonly port: number,
        readonly adminPassword: string,
    ) {}

    /** The Unix socket directory (local connections are trusted by pg_hba). */
    get socketDir(): string {
        return path.join(this.dir, "run");
    }

    /** Connection settings over TCP on 127.0.0.1. */
    tcp(user: string, password: string, database: string): ClientConfig {
        return { host: "127.0.0.1", port: this.port, user, password, database };
    }

    /** The administrator's connection URL over TCP (SCRAM). */
    adminUrl(database = "postgres"): string {
        return `postgresql://${ADMIN}:${encodeURIComponent(this.adminPassword)}@127.0.0.1:${this.port}/${database}?sslmode=disable`;
    }

    /** A connected client as the administrator over the local socket. */
    async admin(database = "postgres"): Promise<Client> {
        const c = new Client({ host: this.socketDir, port: this.port, user: ADMIN, database });
        await c.connect();
        return c;
    }

    /** Runs psql as the administrator over the socket with ON_ERROR_STOP; returns stdout, throws with stderr. */
    psql(script: string, env: Record<string, string> = {}, database = "postgres"): string {
        const r = spawnSync(
            `${PG_BIN}/psql`,
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", this.socketDir, "-p", String(this.port), "-U", ADMIN, "-d", database, "-f", "-"],
            {
                input: script,
                encoding: "utf8",
                env: { ...process.env, ...env, PGPASSWORD: "" },
            },
        );
        if (r.status !== 0) {
            throw new Error(`psql exited ${r.status}: ${r.stderr}`);
        }
        return r.stdout;
    }

    /** The server log so far. */
    log(): string {
        return fs.existsSync(path.join(this.dir, "server.log")) ? fs.readFileSync(path.join(this.dir, "server.log"), "utf8") : "";
    }

    /**
     * initdb a fresh cluster (superuser `hanzo`, SCRAM, data checksums, as the StatefulSet's entrypoint does)
     * and start it with the given files: a harness.conf includes the rendered postgresql.conf unchanged and
     * then sets only the port, the listen address and the socket directory.
     */
    static async start(
        files: ServerFiles,
        settings: Readonly<Record<string, string>> = {},
        startOptions: StartOptions = {},
    ): Promise<PgServer> {
        ensurePostgres();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pg-"));
        fs.chmodSync(dir, 0o755);
        const data = path.join(dir, "data");
        const conf = path.join(dir, "conf");
        const run = path.join(dir, "run");
        for (const d of [conf, run]) {
            fs.mkdirSync(d);
        }
        fs.writeFileSync(path.join(conf, "postgresql.conf"), files.postgresqlConf);
        fs.writeFileSync(path.join(conf, "pg_hba.conf"), files.pgHba);
        const adminPassword =
            startOptions.populate?.adminPassword ?? `admin-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
        registerSecret(adminPassword, `${ADMIN} (harness)`);
        fs.writeFileSync(path.join(dir, "pwfile"), adminPassword + "\n");
        if (startOptions.populate) {
            fs.mkdirSync(data, { mode: 0o700 });
        }
        if (isRoot()) {
            execFileSync("chown", ["-R", "postgres:postgres", dir]);
        }
        if (startOptions.populate) {
            startOptions.populate.run(data);
        } else {
            asPostgres(`${PG_BIN}/initdb`, [
                "-D",
                data,
                "-U",
                ADMIN,
                "--pwfile",
                path.join(dir, "pwfile"),
                ...(startOptions.initdbArgs ?? DEFAULT_INITDB_ARGS),
            ]);
        }
        fs.rmSync(path.join(dir, "pwfile"));
        const port = await freePort();
        // The rendered file is included unchanged; only where this server listens differs from a pod.
        fs.writeFileSync(
            path.join(conf, "harness.conf"),
            [
                "include 'postgresql.conf'",
                `hba_file = '${path.join(conf, "pg_hba.conf")}'`,
                `port = ${port}`,
                "listen_addresses = '127.0.0.1'",
                `unix_socket_directories = '${run}'`,
                // A test's own settings (e.g. log_statement = 'all' to watch every statement).
                ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
                "",
            ].join("\n"),
        );
        if (isRoot()) {
            execFileSync("chown", ["postgres:postgres", path.join(conf, "harness.conf")]);
        }
        const server = new PgServer(dir, port, adminPassword);
        try {
            server.resume();
        } catch (e) {
            const log = server.log();
            fs.rmSync(dir, { recursive: true, force: true });
            throw new Error(`the server did not start: ${(e as Error).message}\n${log}`);
        }
        return server;
    }

    /**
     * A server over a directory laid out as start() lays it out (conf/harness.conf, run/, data/) whose data
     * directory was made by other means (a standby's clone, test/harness/pg/replica.ts); start it with resume().
     */
    static attach(dir: string, port: number, adminPassword: string): PgServer {
        return new PgServer(dir, port, adminPassword);
    }

    /** The configuration file the server runs with (includes the rendered postgresql.conf). */
    get configFile(): string {
        return path.join(this.dir, "conf", "harness.conf");
    }

    /** The rendered pg_hba.conf the server runs with. */
    get hbaFile(): string {
        return path.join(this.dir, "conf", "pg_hba.conf");
    }

    /** Starts the server (again, after a test stopped it) with its configuration; waits until it accepts connections. */
    resume(): void {
        asPostgres(`${PG_BIN}/pg_ctl`, [
            "-D",
            this.dataDir,
            "-o",
            `-c config_file=${this.configFile}`,
            "-l",
            path.join(this.dir, "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ]);
    }

    /** The cluster's data directory (PGDATA). */
    get dataDir(): string {
        return path.join(this.dir, "data");
    }

    /**
     * A client program of the server's (psql, pgbench …) as the administrator over its socket, as the `postgres` OS
     * user; `args` before the database name, which comes last.
     */
    client(program: "psql" | "pgbench", args: string[], database = "postgres"): { status: number; stdout: string; stderr: string } {
        return this.runAsPostgres(`${PG_BIN}/${program}`, ["-h", this.socketDir, "-p", String(this.port), "-U", ADMIN, ...args, database]);
    }

    /** Runs a command as the `postgres` OS user, as the server's container does. */
    runAsPostgres(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
        const r = spawnSync(...postgresCommand(cmd, args), { encoding: "utf8" });
        return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }

    /**
     * Replaces the configuration files and restarts the server (fast shutdown, then start), as a pod
     * restarted with a new ConfigMap does; the data directory stays.
     */
    restart(files: ServerFiles): void {
        const conf = path.join(this.dir, "conf");
        fs.writeFileSync(path.join(conf, "postgresql.conf"), files.postgresqlConf);
        fs.writeFileSync(path.join(conf, "pg_hba.conf"), files.pgHba);
        if (isRoot()) {
            execFileSync("chown", ["postgres:postgres", path.join(conf, "postgresql.conf"), path.join(conf, "pg_hba.conf")]);
        }
        const options = `-c config_file=${path.join(conf, "harness.conf")}`;
        try {
            asPostgres(`${PG_BIN}/pg_ctl`, [
                "-D",
                this.dataDir,
                "-o",
                options,
                "-l",
                path.join(this.dir, "server.log"),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "restart",
            ]);
        } catch (e) {
            throw new Error(`the server did not restart: ${(e as Error).message}\n${this.log()}`);
        }
    }

    /** Whether the server is running (its postmaster.pid exists). */
    get running(): boolean {
        return fs.existsSync(path.join(this.dataDir, "postmaster.pid"));
    }

    /** Every statement pg_stat_statements holds ([] when the library is not preloaded). */
    private recordedStatements(): string[] {
        const q = (sql: string) => {
            const r = spawnSync(
                `${PG_BIN}/psql`,
                [
                    "-X",
                    "-A",
                    "-t",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    this.socketDir,
                    "-p",
                    String(this.port),
                    "-U",
                    ADMIN,
                    "-d",
                    "postgres",
                    "-c",
                    sql,
                ],
                {
                    encoding: "utf8",
                    env: { ...process.env, PGPASSWORD: "" },
                },
            );
            if (r.status !== 0) {
                throw new Error(`psql exited ${r.status}: ${r.stderr}`);
            }
            return r.stdout;
        };
        if (
            !q("SHOW shared_preload_libraries")
                .split(",")
                .map((x) => x.trim())
                .includes("pg_stat_statements")
        ) {
            return [];
        }
        // A standby (test/db/replication.test.ts) cannot create the extension; it has it when its primary does.
        if (q("SELECT pg_is_in_recovery()").trim() !== "t") {
            q("CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public");
        } else if (q("SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'").trim() === "0") {
            return [];
        }
        return [q("SELECT query FROM public.pg_stat_statements")];
    }

    /**
     * Stops the server (fast shutdown) unless it is already down, and removes its files. Then fails when its
     * log or pg_stat_statements held any password a test registered (STANDARD defect 13, for every test server).
     */
    stop(): void {
        if (this.stopped) {
            return;
        }
        this.stopped = true;
        let leaks: { where: string; owners: string[] }[] = [];
        try {
            const statements = this.running ? this.recordedStatements() : [];
            if (this.running) {
                asPostgres(`${PG_BIN}/pg_ctl`, ["-D", this.dataDir, "-m", "fast", "-w", "stop"]);
            }
            leaks = [
                { where: "the server log", owners: leakedSecrets(this.log()) },
                { where: "pg_stat_statements", owners: leakedSecrets(statements.join("\n")) },
            ].filter((l) => l.owners.length > 0);
        } finally {
            fs.rmSync(this.dir, { recursive: true, force: true });
        }
        if (leaks.length > 0) {
            throw new Error(
                `test server on port ${this.port}: passwords in plain text in ${leaks.map((l) => `${l.where} (${l.owners.join(", ")})`).join(" and ")}`,
            );
        }
    }
}
