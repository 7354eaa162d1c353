/**
 * The backup Job's fallback from a standby to the primary (render/pitrPod.ts backupScript), run against the real
 * pgBackRest 2.45 with the real server and S3 API of PitrRig: the stanza is the rig's; the Job's file is the rig's
 * backup file plus a pg2 and `backup-standby=y`, as renderBackupJobConf writes them for a stack with standbys.
 *  - pg2's name resolves but no standby answers there (a standby lost between the script's address check and the
 *    backup): pgBackRest stops with error 056 ("unable to find standby cluster - cannot proceed"); the script
 *    says so and takes the same backup from the primary (`--no-backup-standby`), which succeeds.
 *  - pg2's name does not resolve (no standby Ready: the Service has no address): the script leaves pg2 out before
 *    the first command.
 * The pgBackRest `io-timeout` is lowered through its environment (PGBACKREST_IO_TIMEOUT) so that the connection
 * attempts to the absent pg2 cost seconds here, not minutes; nothing else differs from the Job.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PitrRig } from "../harness/local/pitr";
import { freePort } from "../harness/pg/server";
import { PGBACKREST_BACKUP_FILE, backupScript } from "../../render/pitrPod";
import { PGBACKREST_CONF_PATH } from "../../render/pitr";
import { pitrTlsMaterial } from "../../render/pitrTls";

describe("the backup Job falls back from a standby to the primary (pgBackRest 2.45, error 056)", function () {
    this.timeout(600_000);
    let rig: PitrRig;
    let dir: string;

    before(async () => {
        rig = await PitrRig.start();
        dir = path.join(rig.work, "fallback");
        fs.mkdirSync(dir);
        // The client certificate the Job mounts (pgBackRest reads the files before it connects).
        const tls = pitrTlsMaterial("the fallback test".padEnd(64, "x"), ["localhost"]);
        for (const [name, pem] of Object.entries(tls.client)) {
            fs.writeFileSync(path.join(dir, name), pem);
        }
    });
    after(async () => {
        await rig?.stop();
    });

    /** The Job's file for a standby at `host:port`, and the script with its paths in `dir`; run as the Job does. */
    const runJob = (type: "full" | "diff", host: string, port: number) => {
        const conf = path.join(dir, PGBACKREST_BACKUP_FILE);
        const base = fs.readFileSync(path.join(rig.work, "backup.conf"), "utf8");
        fs.writeFileSync(
            conf,
            base +
                [
                    `pg2-path=${rig.spec.pgdata}`,
                    `pg2-socket-path=${rig.spec.socketPath}`,
                    `pg2-port=${rig.spec.port}`,
                    `pg2-user=${rig.spec.user}`,
                    `pg2-host=${host}`,
                    "pg2-host-type=tls",
                    `pg2-host-port=${port}`,
                    `pg2-host-cert-file=${path.join(dir, "tls.crt")}`,
                    `pg2-host-key-file=${path.join(dir, "tls.key")}`,
                    `pg2-host-ca-file=${path.join(dir, "ca.crt")}`,
                    "backup-standby=y",
                    "",
                ].join("\n"),
        );
        const script = backupScript(type, true)
            .replace(`conf=${path.posix.dirname(PGBACKREST_CONF_PATH)}/${PGBACKREST_BACKUP_FILE}`, `conf=${conf}`)
            .replace(/\/tmp\/pgbackrest-primary\.conf/g, path.join(dir, "primary.conf"))
            .replace(/\/tmp\/backup\.log/g, path.join(dir, "backup.log"));
        assert.ok(script.includes(`conf=${conf}`), "the script's file path was replaced");
        fs.writeFileSync(path.join(dir, "job.sh"), script);
        // The Job runs as the server's user (uid 999 in the pod): its files are that user's, the key 0600.
        spawnSync("chown", ["-R", "postgres:postgres", dir]);
        fs.chmodSync(path.join(dir, "tls.key"), 0o600);
        return rig.server.runAsPostgres("env", ["PGBACKREST_IO_TIMEOUT=3", "bash", path.join(dir, "job.sh")]);
    };

    it("a standby's name that resolves but answers nothing: error 056, said, and the same backup taken from the primary", async () => {
        const r = runJob("full", "127.0.0.1", await freePort());
        const out = r.stdout + r.stderr;
        assert.strictEqual(r.status, 0, out);
        assert.match(out, /unable to find standby cluster - cannot proceed/, out);
        const said = out.split("\n").filter((l) => l.startsWith("pitr-backup:"));
        assert.deepStrictEqual(said, ["pitr-backup: no standby answered behind the standbys' Service: backing up from the primary"]);
        assert.deepStrictEqual(
            rig.info().backup.map((b) => b.type),
            ["full"],
        );
    });

    it("a standby's name that does not resolve: pg2 left out before any command, the differential from the primary", async () => {
        const r = runJob("diff", "no-such-standby.invalid", 8432);
        const out = r.stdout + r.stderr;
        assert.strictEqual(r.status, 0, out);
        assert.deepStrictEqual(
            out.split("\n").filter((l) => l.startsWith("pitr-backup:")),
            [
                "pitr-backup: no standby answered behind the standbys' Service: backing up from the primary (no-such-standby.invalid has no address)",
            ],
        );
        assert.doesNotMatch(out, /pg2|standby cluster/);
        assert.deepStrictEqual(
            rig.info().backup.map((b) => b.type),
            ["full", "diff"],
        );
    });
});
