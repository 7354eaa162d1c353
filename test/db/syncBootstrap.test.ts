/**
 * A stack that is synchronous from its first boot (issue 24, docs/standbys.md "Bootstrap"), on a real server
 * from an empty volume: with `synchronous_standby_names = 'ANY 1 (...)'` rendered and no standby yet, every commit
 * waits for one. The server pod's own writes run on temporary servers that listen on a socket only, where no
 * standby can ever connect: the entrypoint's init file (render/privilegedSession.ts, ADMIN_INIT_SQL) after initdb,
 * and the apply-admin-password init container (render/adminPassword.ts) on every later start. Both must commit
 * locally, or the pod never starts. The replication role, created by the provider's ordinary session, waits for a
 * standby, and a standby can clone meanwhile: the role is visible as soon as it is committed locally.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Client } from "pg";
import { REPLICATION_ROLE } from "../../policies/standard/replication";
import { APPLY_ADMIN_PASSWORD_SCRIPT } from "../../render/adminPassword";
import { ADMIN_INIT_SQL } from "../../render/privilegedSession";
import { scramVerifier } from "../../render/scram";
import { ADMIN, PG_BIN, PgServer, registerSecret } from "../harness/pg/server";
import { replicationFiles, startStandby } from "../support/replication";
import { until } from "../support/until";

const FILES = replicationFiles({ standbys: 1, synchronousStandbys: 1 });

/** The titles of the postmaster's children of `dataDir` (a backend waiting in SyncRep shows "waiting for <LSN>"). */
function backendTitles(dataDir: string): string[] {
    let pid: string;
    try {
        pid = fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0];
    } catch {
        return [];
    }
    let children: string[] = [];
    try {
        children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {
        return [];
    }
    return children.flatMap((c) => {
        try {
            return [fs.readFileSync(`/proc/${c}/cmdline`, "utf8").replace(/\0/g, " ").trim()];
        } catch {
            return [];
        }
    });
}

/**
 * Runs a child as the postgres OS user to its end, unless one of the server's backends starts waiting for a
 * synchronous standby first: then the child is killed and the waiting backend's title returned.
 */
async function runUnlessSyncRep(
    args: string[],
    dataDir: string,
    input?: string,
): Promise<{ exit: number | null; stderr: string } | { waits: string }> {
    const child: ChildProcess = spawn("runuser", ["-u", "postgres", "--", ...args], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += String(d)));
    child.stdin!.end(input ?? "");
    let exit: number | null | undefined;
    child.on("exit", (code) => (exit = code));
    let waiting: string | undefined;
    await until("the child to end or a commit to wait", () => {
        waiting = backendTitles(dataDir).find((t) => / waiting for [0-9A-F]+\/[0-9A-F]+$/.test(t));
        return exit !== undefined || waiting !== undefined;
    });
    if (exit === undefined) {
        child.kill("SIGKILL");
        return { waits: waiting! };
    }
    return { exit, stderr };
}

describe("a synchronous stack from an empty volume (bootstrap)", function () {
    this.timeout(180_000);
    let primary: PgServer;
    let standby: PgServer | undefined;
    const replicationPassword = randomBytes(24).toString("base64url");
    registerSecret(replicationPassword, REPLICATION_ROLE);
    const appPassword = randomBytes(24).toString("base64url");
    registerSecret(appPassword, "app_owner");

    before(async () => {
        // initdb on an empty directory and the rendered synchronous configuration, as the pod's first start.
        primary = await PgServer.start(FILES);
    });

    after(() => {
        // Released, so that the harness's own statements at stop do not wait for a standby stopped before.
        try {
            if (primary?.running) {
                primary.psql("ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf();");
            }
        } catch (e) {
            console.error((e as Error).message);
        }
        for (const s of [standby, primary]) {
            try {
                s?.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
    });

    it("renders a synchronous primary that has no standby yet", () => {
        assert.strictEqual(
            primary.psql("\\pset tuples_only on\nSHOW synchronous_standby_names").trim(),
            "ANY 1 (postgres_0, postgres_standby_0)",
        );
    });

    it("runs the entrypoint's init file to its end (its session commits locally; nothing waits in SyncRep)", async () => {
        // As docker-entrypoint.sh runs /docker-entrypoint-initdb.d/*.sql: psql -v ON_ERROR_STOP=1 --username
        // POSTGRES_USER --no-password --no-psqlrc --dbname POSTGRES_DB -f <file>, over the socket.
        const r = await runUnlessSyncRep(
            [
                `${PG_BIN}/psql`,
                "-v",
                "ON_ERROR_STOP=1",
                "--username",
                ADMIN,
                "--no-password",
                "--no-psqlrc",
                "--dbname",
                "postgres",
                "-h",
                primary.socketDir,
                "-p",
                String(primary.port),
                "-f",
                "-",
            ],
            primary.dataDir,
            ADMIN_INIT_SQL,
        );
        assert.deepStrictEqual(r, { exit: 0, stderr: "" });
        assert.strictEqual(
            primary.psql(`\\pset tuples_only on\nSELECT setconfig FROM pg_db_role_setting WHERE setrole = '${ADMIN}'::regrole`).trim(),
            '{synchronous_commit=local,"search_path=pg_catalog, pg_temp"}',
        );
    });

    it("runs the apply-admin-password init container to its end at the next start (its temporary server has no network)", async () => {
        primary.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", primary.dataDir, "-m", "fast", "-w", "stop"]);
        const script = path.join(primary.dir, "apply-admin-password.sh");
        fs.writeFileSync(script, APPLY_ADMIN_PASSWORD_SCRIPT, { mode: 0o755 });
        const verifier = scramVerifier(primary.adminPassword, randomBytes(16).toString("base64"));
        const env = {
            PATH: `${PG_BIN}:${process.env.PATH}`,
            PGDATA: primary.dataDir,
            PG_CONFIG_FILE: primary.configFile,
            PG_HBA_FILE: primary.hbaFile,
            HANZO_ADMIN_VERIFIER: verifier,
        };
        let r;
        try {
            r = await runUnlessSyncRep(["env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "bash", script], primary.dataDir);
        } finally {
            // A script killed while its server waited leaves that server running.
            if (primary.running) {
                primary.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", primary.dataDir, "-m", "immediate", "-w", "stop"]);
            }
        }
        assert.deepStrictEqual(r, { exit: 0, stderr: "" });
        primary.resume();
        assert.strictEqual(
            primary.psql(`\\pset tuples_only on\nSELECT rolpassword = '${verifier}' FROM pg_authid WHERE rolname = '${ADMIN}'`).trim(),
            "t",
        );
    });

    it("creates the replication role as the provider does without waiting; a standby clones; services' commits wait for it", async () => {
        // The provider's session: the administrator's, which commits locally from the init file's role setting on.
        const admin = new Client(primary.tcp(ADMIN, primary.adminPassword, "postgres"));
        await admin.connect();
        let app: Client | undefined;
        try {
            assert.deepStrictEqual((await admin.query("SHOW synchronous_commit")).rows, [{ synchronous_commit: "local" }]);
            const salt = () => randomBytes(16).toString("base64");
            let created = false;
            const create = (async () => {
                await admin.query(
                    `CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT PASSWORD '${scramVerifier(replicationPassword, salt())}'`,
                );
                await admin.query(`CREATE ROLE app_owner LOGIN PASSWORD '${scramVerifier(appPassword, salt())}'`);
                await admin.query("CREATE DATABASE app OWNER app_owner");
                created = true;
            })();
            const waiting = () => backendTitles(primary.dataDir).find((t) => / waiting for [0-9A-F]+\/[0-9A-F]+$/.test(t));
            await until("the creations to return or wait", () => created || waiting() !== undefined);
            assert.strictEqual(waiting(), undefined);
            await create;

            // A service's commit (its role keeps synchronous_commit = on) waits: no standby yet.
            app = new Client(primary.tcp("app_owner", appPassword, "app"));
            await app.connect();
            assert.deepStrictEqual((await app.query("SHOW synchronous_commit")).rows, [{ synchronous_commit: "on" }]);
            let written = false;
            const write = app.query("CREATE TABLE t(id int)").then(() => (written = true));
            await until("the service's commit to wait for a standby", () => / CREATE TABLE waiting for /.test(waiting() ?? ""));
            assert.strictEqual(written, false);

            // The role is visible (committed), so the standby's start script authenticates and clones.
            const r = await startStandby(FILES, primary, replicationPassword);
            standby = r.server;
            assert.strictEqual(r.run.status, 0, r.run.stderr);
            await write;
            assert.strictEqual(written, true);
            // sync_state turns from async to quorum once the standby has reported its first flush.
            await until(
                "the standby to stream as a synchronous candidate",
                () =>
                    primary
                        .psql(
                            "\\pset tuples_only on\n\\pset format unaligned\nSELECT application_name, sync_state FROM pg_stat_replication",
                        )
                        .trim() === "postgres_standby_0|quorum",
            );
        } finally {
            await app?.end();
            await admin.end();
        }
    });
});
