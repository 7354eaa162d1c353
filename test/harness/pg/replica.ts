/**
 * Servers of a replicated stack on loopback: a pod's start script (render/scripts/replica-start.sh) run for
 * real as the postgres OS user over a directory laid out as PgServer.start lays it out, with the pod's
 * environment and copies of the Secrets' pgpass lines, then the server started with the rendered files.
 */
import { spawnSync, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PG_BIN, PgServer, ServerFiles, freePort } from "./server";

export const REPLICA_START = path.join(__dirname, "..", "..", "..", "..", "render", "scripts", "replica-start.sh");

export interface ReplicaOptions {
    /** The rendered postgresql.conf and pg_hba.conf (the same files as the primary's, as in the cluster). */
    readonly files: ServerFiles;
    /** Where the `postgres` Service leads: the current primary's port on 127.0.0.1. */
    readonly primaryPort: number;
    /** This pod's slot and application_name. */
    readonly slot: string;
    /** The pod's declared role. */
    readonly role: "primary" | "standby";
    /** The replication Secret's pgpass line and the administrator's, as the pod mounts them. */
    readonly replicationPgpass: string;
    readonly adminPgpass: string;
    /** The administrator's password (the clone copies the primary's roles). */
    readonly adminPassword: string;
    /**
     * The read Service's name `postgres-ro` (headless: it resolves while a standby is Ready). Default: a name that
     * never resolves (RFC 6761 `.invalid`), as the Service's resolves to nothing while no standby is Ready.
     */
    readonly standbysHost?: string;
    /** The stack's `standbys` (default 1). */
    readonly declaredStandbys?: number;
}

/** A name that never resolves: no Ready standby behind the read Service. */
export const NO_STANDBYS_HOST = "postgres-ro.hanzo.invalid";

export interface ScriptRun {
    readonly status: number;
    readonly stderr: string;
}

/** Runs the start script over `dir` (its data in dir/data), as the pod would before the entrypoint; `true` stands in for it. */
export function runStartScript(dir: string, o: ReplicaOptions): ScriptRun {
    const secrets = path.join(dir, "secrets");
    fs.mkdirSync(secrets, { recursive: true });
    // As a Secret volume with fsGroup mounts them: group-readable, which libpq refuses (the script copies them).
    fs.writeFileSync(path.join(secrets, "replication.pgpass"), o.replicationPgpass + "\n", { mode: 0o440 });
    fs.writeFileSync(path.join(secrets, "admin.pgpass"), o.adminPgpass + "\n", { mode: 0o440 });
    execFileSync("chown", ["-R", "root:postgres", secrets]);
    const env = {
        PATH: `${PG_BIN}:/usr/bin:/bin`,
        PGDATA: path.join(dir, "data"),
        PRIMARY_HOST: "127.0.0.1",
        PRIMARY_PORT: String(o.primaryPort),
        STANDBYS_HOST: o.standbysHost ?? NO_STANDBYS_HOST,
        DECLARED_STANDBYS: String(o.declaredStandbys ?? 1),
        SLOT: o.slot,
        SERVER_ROLE: o.role,
        REPLICATION_PGPASS: path.join(secrets, "replication.pgpass"),
        ADMIN_PGPASS: path.join(secrets, "admin.pgpass"),
        RUN_DIR: path.join(dir, "run"),
        CONFIG_FILE: path.join(dir, "conf", "harness.conf"),
    };
    const r = spawnSync(
        "runuser",
        ["-u", "postgres", "--", "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "bash", REPLICA_START, "true"],
        { encoding: "utf8" },
    );
    return { status: r.status ?? -1, stderr: r.stderr };
}

/** A new pod's empty volume (its directory laid out as PgServer.start lays it out, no data yet) and its port. */
export async function emptyVolume(files: ServerFiles): Promise<{ dir: string; port: number }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-replica-"));
    fs.chmodSync(dir, 0o755);
    const conf = path.join(dir, "conf");
    const run = path.join(dir, "run");
    fs.mkdirSync(conf);
    fs.mkdirSync(run, { mode: 0o700 });
    fs.writeFileSync(path.join(conf, "postgresql.conf"), files.postgresqlConf);
    fs.writeFileSync(path.join(conf, "pg_hba.conf"), files.pgHba);
    const port = await freePort();
    writeHarnessConf(dir, port);
    execFileSync("chown", ["-R", "postgres:postgres", conf, run]);
    execFileSync("chown", ["postgres:postgres", dir]);
    return { dir, port };
}

/** A new pod's empty volume, its start script run (a standby clones), then the server started. */
export async function startReplica(o: ReplicaOptions): Promise<{ server: PgServer; run: ScriptRun }> {
    const { dir, port } = await emptyVolume(o.files);
    const result = runStartScript(dir, o);
    const server = PgServer.attach(dir, port, o.adminPassword);
    if (result.status !== 0) {
        return { server, run: result };
    }
    server.resume();
    return { server, run: result };
}

/** The harness's own lines (port, loopback, socket), as PgServer.start writes them. */
export function writeHarnessConf(dir: string, port: number): void {
    fs.writeFileSync(
        path.join(dir, "conf", "harness.conf"),
        [
            "include 'postgresql.conf'",
            `hba_file = '${path.join(dir, "conf", "pg_hba.conf")}'`,
            `port = ${port}`,
            "listen_addresses = '127.0.0.1'",
            `unix_socket_directories = '${path.join(dir, "run")}'`,
            "",
        ].join("\n"),
    );
}
