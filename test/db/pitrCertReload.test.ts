/**
 * A changed certificate reaches the running TLS server (issue 23, docs/pitr.md "Certificates"): the end of the
 * sidecar's script as rendered (tlsServerScript, render/pitrPod.ts, with this test's paths and a 1 s poll) runs
 * pgBackRest 2.45's TLS server on the rendered `[global:server]` options in front of a real server; the
 * "Secret" is a directory the test updates as the kubelet does (a new `..<timestamp>` directory, `..data` swapped
 * to it by a rename, the files links through `..data`), with the material components/pitr.ts stores
 * (pitrTlsMaterial). The client is pgBackRest's own (stanza-create through pg1-host-type=tls), which checks the
 * name it dialled against the certificate. It dials `localhost`, the one name that reaches the loopback here,
 * standing in for the Service's name in the cluster (`postgres.<ns>.svc`).
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { ADMIN, PgServer } from "../harness/pg/server";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { renderPgHba } from "../../render/pgHba";
import { hbaRules } from "../../policies/standard/pgHba";
import { serverSettings } from "../../policies/standard/settings";
import { PGBACKREST_KEY_ENV, PITR_STANZA, PitrSpec } from "../../render/pitr";
import {
    PGBACKREST_SERVER_KEY_DIR,
    PGBACKREST_TLS_DIR,
    PGBACKREST_TLS_PORT,
    TLS_KEYS,
    TLS_RELOAD_LOG,
    renderServerPodConf,
    tlsServerScript,
} from "../../render/pitrPod";
import { TlsFiles, pitrTlsMaterial } from "../../render/pitrTls";

const GiB = 2 ** 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    return port;
}

/** Waits for `ok` (an event: a log line, a listening port); `what` names it if it never comes. */
async function until(what: string, ok: () => boolean | Promise<boolean>, limitMs = 60_000): Promise<void> {
    for (const end = Date.now() + limitMs; !(await ok());) {
        if (Date.now() > end) {
            throw new Error(`never happened: ${what}`);
        }
        await sleep(100);
    }
}

const count = (text: string, line: string) => text.split("\n").filter((l) => l.includes(line)).length;

describe("the sidecar's TLS server serves a changed certificate without a restart (pgBackRest 2.45, the rendered script)", function () {
    this.timeout(300_000);
    let server: PgServer;
    let work: string;
    let port: number;
    let sidecar: ChildProcess | undefined;
    let out = "";
    const seed = "the archive's seed".padEnd(64, "x");
    // The certificate before this session's change named the first pod; the Services' names replaced it.
    const oldNames = ["postgres-0.postgres.hanzo.svc"];
    const newNames = ["localhost"];
    const chown = (p: string) => {
        const ids = postgresIds();
        fs.chownSync(p, ids.uid, ids.gid);
    };

    /** The mounted Secret's update, as the kubelet's atomic writer does it. */
    let generation = 0;
    function writeSecret(files: TlsFiles): void {
        const dir = path.join(work, "tls");
        const ts = `..gen${++generation}`;
        fs.mkdirSync(path.join(dir, ts), { recursive: true, mode: 0o755 });
        for (const [name, text] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, ts, name), text, { mode: 0o444 });
            if (generation === 1) {
                fs.symlinkSync(path.join("..data", name), path.join(dir, name));
            }
        }
        fs.symlinkSync(ts, path.join(dir, "..data_tmp"));
        fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
        if (generation > 1) {
            fs.rmSync(path.join(dir, `..gen${generation - 1}`), { recursive: true });
        }
    }

    /** The backup Jobs' side: its Secret's files (the client's) in a directory of its own. */
    function clientFiles(name: string, files: TlsFiles): string {
        const dir = path.join(work, name);
        fs.mkdirSync(dir, { mode: 0o700 });
        chown(dir);
        for (const [file, text] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, file), text, { mode: 0o600 });
            chown(path.join(dir, file));
        }
        return dir;
    }

    /** stanza-create through the TLS server, as the backup Job does, dialling `localhost`. */
    function stanzaCreate(client: string): { status: number; output: string } {
        const r = server.runAsPostgres("pgbackrest", [
            `--config=${path.join(work, "empty.conf")}`,
            `--stanza=${PITR_STANZA}`,
            "--pg1-host=localhost",
            "--pg1-host-type=tls",
            `--pg1-host-port=${port}`,
            `--pg1-host-ca-file=${path.join(client, TLS_KEYS.ca)}`,
            `--pg1-host-cert-file=${path.join(client, TLS_KEYS.cert)}`,
            `--pg1-host-key-file=${path.join(client, TLS_KEYS.key)}`,
            // As the backup Job's file gives them (the remote the TLS server starts reads them from the client).
            `--pg1-path=${server.dataDir}`,
            `--pg1-socket-path=${server.socketDir}`,
            `--pg1-port=${server.port}`,
            `--pg1-user=${ADMIN}`,
            `--repo1-path=${path.join(work, "repo")}`,
            `--lock-path=${path.join(work, "client-lock")}`,
            "--log-level-file=off",
            "--log-level-console=error",
            "stanza-create",
        ]);
        return { status: r.status, output: r.stdout + r.stderr };
    }

    before(async () => {
        server = await PgServer.start({
            postgresqlConf: renderPostgresqlConf(GiB, serverSettings(GiB)),
            pgHba: renderPgHba(hbaRules(["10.0.0.0/8"])),
        });
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hanzo-sql-pitr-tls-"));
        fs.chmodSync(work, 0o755);
        for (const d of ["spool", "key", "repo", "client-lock"]) {
            fs.mkdirSync(path.join(work, d), { mode: 0o700 });
            chown(path.join(work, d));
        }
        fs.writeFileSync(path.join(work, "empty.conf"), "");
        port = await freePort();
        const spec: PitrSpec = {
            // Never reached: the TLS server's remote serves pg1 only.
            repo: { endpoint: "https://s3.example.com", region: "us-east-1", bucket: "unused", prefix: "/pitr", uriStyle: "path" },
            retentionDays: 1,
            pgdata: server.dataDir,
            socketPath: server.socketDir,
            port: server.port,
            user: ADMIN,
            spoolPath: path.join(work, "spool"),
            archiveTimeoutSeconds: 60,
            archiveQueueMaxBytes: GiB,
            processMax: 1,
            configPath: path.join(work, "pgbackrest.conf"),
        };
        // The rendered file with this test's directories, on the loopback and a free port.
        const conf = renderServerPodConf(spec)
            .split(PGBACKREST_TLS_DIR)
            .join(path.join(work, "tls"))
            .split(PGBACKREST_SERVER_KEY_DIR)
            .join(path.join(work, "key"))
            .replace("tls-server-address=*", "tls-server-address=127.0.0.1")
            .replace(`tls-server-port=${PGBACKREST_TLS_PORT}`, `tls-server-port=${port}`);
        fs.writeFileSync(spec.configPath!, conf);
        writeSecret(pitrTlsMaterial(seed, oldNames).server);
        const script = tlsServerScript({ config: spec.configPath!, tlsDir: path.join(work, "tls"), keyDir: path.join(work, "key") }, 1);
        sidecar = spawn("runuser", ["-u", "postgres", "--", "bash", "-c", ["set -u", ...script].join("\n")], {
            detached: true,
            env: {
                ...process.env,
                // As in the pod (env from the credentials Secret); the server's log: the reload's own lines.
                [PGBACKREST_KEY_ENV.key]: "unused",
                [PGBACKREST_KEY_ENV.secret]: "unused",
                PGBACKREST_LOG_LEVEL_CONSOLE: "detail",
                PGBACKREST_LOG_LEVEL_FILE: "off",
            },
        });
        sidecar.stdout!.on("data", (d: Buffer) => (out += d.toString()));
        sidecar.stderr!.on("data", (d: Buffer) => (out += d.toString()));
        await until("the TLS server listens", () => {
            return new Promise<boolean>((r) => {
                const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
                s.on("error", () => r(false));
            });
        });
    });

    after(() => {
        if (sidecar?.pid !== undefined && sidecar.exitCode === null) {
            process.kill(-sidecar.pid, "SIGTERM");
        }
        server?.stop();
        if (work) {
            fs.rmSync(work, { recursive: true, force: true });
        }
    });

    /** The Secret changes; the sidecar signals the server, which reloads (its own log line). */
    async function rollSecret(files: TlsFiles, reloads: number): Promise<void> {
        writeSecret(files);
        await until(
            `reload ${reloads}`,
            () => count(out, TLS_RELOAD_LOG) === reloads && count(out, "configuration reload end") === reloads,
        );
    }

    it("a renamed certificate: refused by a client verifying the new name before, served after the reload; a rotation likewise", async () => {
        const before = pitrTlsMaterial(seed, oldNames);
        const client = clientFiles("client", before.client);
        const refused = stanzaCreate(client);
        assert.notStrictEqual(refused.status, 0, refused.output);
        assert.match(refused.output, /unable to find hostname 'localhost' in certificate common name or subject alternative names/);

        // The rename (this session's change): the same seed, so the same key and CA, other names.
        await rollSecret(pitrTlsMaterial(seed, newNames).server, 1);
        const served = stanzaCreate(client);
        assert.strictEqual(served.status, 0, served.output);

        // A rotation (a new seed): a new CA and key; the old client is refused, the new one served.
        const rotated = pitrTlsMaterial("another seed".padEnd(64, "y"), newNames);
        await rollSecret(rotated.server, 2);
        const stale = stanzaCreate(client);
        assert.notStrictEqual(stale.status, 0, stale.output);
        // The client's CA is the old one: the new server certificate is of a CA it does not know.
        assert.match(
            stale.output,
            /unable to verify certificate presented by 'localhost:\d+': \[19\] self-signed certificate in certificate chain/,
        );
        const fresh = stanzaCreate(clientFiles("client-rotated", rotated.client));
        assert.strictEqual(fresh.status, 0, fresh.output);
        // The same server process throughout: no restart.
        assert.strictEqual(sidecar!.exitCode, null, out);
        assert.strictEqual(count(out, "configuration reload begin"), 2, out);
    });
});

/** The `postgres` OS user (the server image's uid 999, as the sidecar runs). */
function postgresIds(): { uid: number; gid: number } {
    const line = fs
        .readFileSync("/etc/passwd", "utf8")
        .split("\n")
        .find((l) => l.startsWith("postgres:"));
    if (!line) {
        throw new Error("no postgres OS user: run scripts/install-test-deps.sh");
    }
    const [, , u, g] = line.split(":");
    return { uid: Number(u), gid: Number(g) };
}
