/**
 * The restore step of a stack bootstrapped from another stack's WAL archive (pitrBootstrapFrom,
 * render/scripts/pitr-bootstrap.sh, docs/pitr.md "Into a new stack") on a real server: the source archives
 * with the rendered pgBackRest configuration into s3rver over TLS (PitrRig); the step runs as the postgres OS
 * user on an empty data directory with the stack's rendered postgresql.conf and the rendered pgbackrest.conf
 * of the source's repository, then a server starts on what it left, as the pod's server container does.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PitrRig } from "../harness/local/pitr";
import { ADMIN, PG_BIN, PgServer, freePort } from "../harness/pg/server";
import { scriptsDir } from "../../render/backup";
import { renderRestorePgbackrestConf } from "../../render/pitr";
import { PITR_BOOTSTRAP_SCRIPT } from "../../render/pods/bootstrap";

describe("bootstrapping a stack from another stack's archive (pitr-bootstrap.sh, real server, S3 over TLS)", function () {
    this.timeout(600_000);
    let rig: PitrRig;
    let home: string;
    const postgres = () => {
        const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
        return { uid: id("-u"), gid: id("-g") };
    };
    /** Runs the step as the init container does: the postgres user, the pod's environment. */
    const step = (
        pgdata: string,
        target: { type: string; target?: string },
        own: {
            prefix: string;
            standbys: number;
            sourcePrefix?: string;
            /** The own repository's port, when not the S3 API's (a port nothing answers). */
            storagePort?: number;
            env?: Record<string, string>;
        } = { prefix: "/the-new-stack", standbys: 0 },
    ) => {
        const conf = path.join(home, "bootstrap.conf");
        const source = { ...rig.spec, repo: { ...rig.spec.repo, prefix: own.sourcePrefix ?? rig.spec.repo.prefix } };
        fs.writeFileSync(conf, renderRestorePgbackrestConf(source, { pgdata, spoolPath: path.join(home, "spool") }));
        // The new stack's own repository: by default a prefix no stanza-create ran in (a stack not bootstrapped yet).
        const ownConf = path.join(home, "own.conf");
        fs.writeFileSync(
            ownConf,
            renderRestorePgbackrestConf(
                { ...rig.spec, repo: { ...rig.spec.repo, prefix: own.prefix } },
                { pgdata, spoolPath: path.join(home, "spool") },
            ).replace(/^repo1-storage-port=\d+$/m, (line) =>
                own.storagePort === undefined ? line : `repo1-storage-port=${own.storagePort}`,
            ),
        );
        const r = spawnSync("bash", [path.join(scriptsDir(), PITR_BOOTSTRAP_SCRIPT)], {
            env: {
                PATH: `${PG_BIN}:/usr/bin:/bin`,
                PGDATA: pgdata,
                PG_CONFIG_FILE: path.join(home, "postgresql.conf"),
                BOOTSTRAP_CONFIG: conf,
                BOOTSTRAP_OWN_CONFIG: ownConf,
                BOOTSTRAP_STANDBYS: String(own.standbys),
                BOOTSTRAP_SOURCE: "s3rver/pitr",
                BOOTSTRAP_TARGET_TYPE: target.type,
                ...(target.target !== undefined ? { BOOTSTRAP_TARGET: target.target } : {}),
                BOOTSTRAP_SUPERUSER: ADMIN,
                BOOTSTRAP_RUN: path.join(home, "run"),
                PGBACKREST_REPO1_S3_KEY: process.env.PGBACKREST_REPO1_S3_KEY!,
                PGBACKREST_REPO1_S3_KEY_SECRET: process.env.PGBACKREST_REPO1_S3_KEY_SECRET!,
                ...own.env,
            },
            encoding: "utf8",
            ...postgres(),
        });
        return { status: r.status, stderr: r.stderr };
    };
    const ids = async (srv: PgServer) =>
        (await rig.one<{ ids: string }>("SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM ledger", srv)).ids;
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i).join(",");
    const insert = (from: number, to: number) => {
        // One transaction per row: each is a commit the target may fall between.
        rig.server.psql(Array.from({ length: to - from + 1 }, (_, i) => `INSERT INTO ledger VALUES (${from + i});`).join("\n"));
    };
    let targetTime = "";
    /** Stops a server and keeps its files (PgServer.stop removes them). */
    const halt = (srv: PgServer) => {
        const r = srv.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", srv.dataDir, "-m", "fast", "-w", "stop"]);
        assert.strictEqual(r.status, 0, r.stderr);
    };

    before(async () => {
        rig = await PitrRig.start();
        home = path.join(rig.work, "bootstrap");
        fs.mkdirSync(home);
        // The new stack's rendered postgresql.conf (the same renderer; its own archive settings).
        fs.writeFileSync(path.join(home, "postgresql.conf"), rig.files.postgresqlConf);
        spawnSync("chown", ["-R", "postgres:postgres", home]);
        rig.server.psql("CREATE TABLE ledger (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
        insert(1, 50);
        rig.pgbackrest(["backup", "--type=full"], { job: true });
        // pgBackRest picks the backup for a time target by its stop time, in whole seconds: a target in the
        // backup's own last second finds no backup before it (error 075).
        await new Promise((r) => setTimeout(r, 1500));
        insert(51, 60);
        targetTime = (
            await rig.one<{ t: string }>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t")
        ).t;
        insert(61, 70);
        await rig.switchAndArchive();
    });

    after(async () => {
        await rig?.stop();
    });

    it("its script passes shellcheck", () => {
        const r = spawnSync("shellcheck", ["--severity=style", PITR_BOOTSTRAP_SCRIPT], { cwd: scriptsDir(), encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
    });

    it("restores onto an empty volume to a time: every row committed before it there, none after; the server starts on it as the stack's", async () => {
        let out: ReturnType<typeof step> | undefined;
        const server = await PgServer.start(
            rig.files,
            {},
            {
                populate: {
                    adminPassword: rig.server.adminPassword,
                    run: (data) => {
                        // PgServer made the directory (empty), as a claim's subdirectory may be.
                        out = step(data, { type: "time", target: targetTime });
                        assert.strictEqual(out.status, 0, out.stderr);
                    },
                },
            },
        );
        try {
            assert.strictEqual(out?.status, 0, out?.stderr);
            assert.match(out?.stderr ?? "", /^pitr-bootstrap: restored s3rver\/pitr to time .*; the server starts on it$/m);
            assert.strictEqual(await ids(server), range(1, 60));
            const s = await rig.one<{ rec: boolean; rc: string; target: string }>(
                "SELECT pg_is_in_recovery() AS rec, current_setting('restore_command') AS rc, current_setting('recovery_target_time') AS target",
                server,
            );
            // Out of recovery, and pgBackRest's recovery settings gone: the stack's own restore_command applies.
            assert.deepStrictEqual(s, {
                rec: false,
                rc: `pgbackrest --config=${rig.work}/pgbackrest.conf --stanza=db archive-get %f "%p"`,
                target: "",
            });
            assert.ok(!fs.existsSync(`${server.dataDir}.bootstrap`));
            assert.strictEqual(
                fs.readFileSync(path.join(server.dataDir, "hanzo-bootstrapped-from"), "utf8"),
                `s3rver/pitr time ${targetTime}\n`,
            );
            // Every later start: the step sees its own mark and touches nothing.
            halt(server);
            const before = fs.readdirSync(server.dataDir).sort();
            const again = step(server.dataDir, { type: "time", target: targetTime });
            assert.strictEqual(again.status, 0, again.stderr);
            assert.match(again.stderr, /^pitr-bootstrap: PGDATA was restored from s3rver\/pitr time .* earlier; starting it as it is$/m);
            assert.deepStrictEqual(fs.readdirSync(server.dataDir).sort(), before);
            server.resume();
            assert.strictEqual(await ids(server), range(1, 60));
        } finally {
            server.stop();
        }
    });

    it("restores to the end of the archive (latest), the source being the stack's own repository (the same-stack procedure)", async () => {
        let out: ReturnType<typeof step> | undefined;
        const server = await PgServer.start(
            rig.files,
            {},
            {
                populate: {
                    adminPassword: rig.server.adminPassword,
                    run: (data) => {
                        // Its own repository holds the stanza: asked only when the source is another stack's.
                        // Named with a trailing slash (pgBackRest drops it): still the stack's own repository.
                        out = step(
                            data,
                            { type: "latest" },
                            { prefix: rig.spec.repo.prefix, standbys: 0, sourcePrefix: `${rig.spec.repo.prefix}/` },
                        );
                        assert.strictEqual(out.status, 0, out.stderr);
                    },
                },
            },
        );
        try {
            assert.strictEqual(out?.status, 0, out?.stderr);
            assert.strictEqual(await ids(server), range(1, 70));
        } finally {
            server.stop();
        }
    });

    it("never touches a volume that already holds a cluster, and refuses one with stray files", async () => {
        // A stack whose volume has its own data when pitrBootstrapFrom is set.
        const other = await PgServer.start(rig.files);
        halt(other);
        const listing = fs.readdirSync(other.dataDir).sort();
        const kept = step(other.dataDir, { type: "latest" });
        assert.strictEqual(kept.status, 0, kept.stderr);
        assert.match(
            kept.stderr,
            /^pitr-bootstrap: PGDATA already holds a cluster: pitrBootstrapFrom restores onto an empty volume only, so this volume is not touched \(remove pitrBootstrapFrom from the stack\)$/m,
        );
        assert.deepStrictEqual(fs.readdirSync(other.dataDir).sort(), listing);
        assert.ok(!fs.existsSync(`${other.dataDir}.bootstrap`));
        fs.rmSync(other.dir, { recursive: true, force: true });

        const stray = path.join(home, "stray");
        fs.mkdirSync(stray, { mode: 0o700 });
        fs.writeFileSync(path.join(stray, "notes.txt"), "not a cluster\n");
        spawnSync("chown", ["-R", "postgres:postgres", stray]);
        const refused = step(stray, { type: "latest" });
        assert.strictEqual(refused.status, 1, refused.stderr);
        assert.match(
            refused.stderr,
            /^pitr-bootstrap: refused: PGDATA \(.*\) holds files but no cluster \(no PG_VERSION\); nothing is restored over them/m,
        );
        assert.deepStrictEqual(fs.readdirSync(stray), ["notes.txt"]);
        assert.ok(!fs.existsSync(`${stray}.bootstrap`));
    });

    it("never restores the source again into a stack that has archived a history of its own: refused, or left to the standbys' clone", async () => {
        // The stack's own repository holds its stanza (here: the rig's, whose server ran stanza-create and archived);
        // the source is another stack's (a prefix of its own; never read, since nothing is restored).
        const lost = path.join(home, "lost-volume");
        const own = { prefix: rig.spec.repo.prefix, standbys: 0, sourcePrefix: "/the-source-stack" };
        const refused = step(lost, { type: "latest" }, own);
        assert.strictEqual(refused.status, 1, refused.stderr);
        assert.strictEqual(
            refused.stderr.trim().split("\n").pop(),
            "pitr-bootstrap: refused: this stack's own repository holds its stanza (ok): it was bootstrapped before and has archived its own writes since, " +
                'which restoring s3rver/pitr again would replace with the source\'s past. Restore this stack from its own archive (docs/pitr.md "Onto a fresh volume"), and remove pitrBootstrapFrom',
        );
        assert.ok(!fs.existsSync(lost) && !fs.existsSync(`${lost}.bootstrap`), "nothing restored");
        // With standbys and a primary answering behind the `postgres` Service (here the rig's server, by its socket):
        // the volume stays empty, and the server container's start script clones it from that primary.
        const primary = { BOOTSTRAP_PRIMARY_HOST: rig.server.socketDir, BOOTSTRAP_PRIMARY_PORT: String(rig.server.port) };
        const left = step(lost, { type: "latest" }, { ...own, standbys: 1, env: primary });
        assert.strictEqual(left.status, 0, left.stderr);
        assert.strictEqual(
            left.stderr.trim(),
            "pitr-bootstrap: this stack's own repository holds its stanza (ok): it was bootstrapped before, so s3rver/pitr is not restored again; " +
                `the volume stays empty for the start script, which clones it from the primary behind ${rig.server.socketDir}`,
        );
        assert.ok(!fs.existsSync(lost) && !fs.existsSync(`${lost}.bootstrap`), "nothing restored");
        // With standbys and no primary to clone from: refused (the start script would initdb an empty cluster).
        const noPrimary = { BOOTSTRAP_PRIMARY_HOST: "127.0.0.1", BOOTSTRAP_PRIMARY_PORT: String(await freePort()) };
        const alone = step(lost, { type: "latest" }, { ...own, standbys: 1, env: noPrimary });
        assert.strictEqual(alone.status, 1, alone.stderr);
        assert.match(alone.stderr, /no primary answers behind 127\.0\.0\.1 to clone this volume from\. Promote a standby/);
        assert.ok(!fs.existsSync(lost) && !fs.existsSync(`${lost}.bootstrap`), "nothing restored");
    });

    it("refuses when the stack's own repository does not answer (pgBackRest's info exits 0 there, status: error (other))", async () => {
        const lost = path.join(home, "lost-volume-2");
        const r = step(
            lost,
            { type: "latest" },
            { prefix: "/the-new-stack", standbys: 1, storagePort: await freePort(), env: { PGBACKREST_IO_TIMEOUT: "2" } },
        );
        assert.strictEqual(r.status, 1, r.stderr);
        assert.match(
            r.stderr,
            /^pitr-bootstrap: refused: this stack's own repository did not say whether it holds a stanza \(status: error \(other\); pgBackRest's account above\)/m,
        );
        assert.ok(!fs.existsSync(lost) && !fs.existsSync(`${lost}.bootstrap`), "nothing restored");
    });
});
