import * as assert from "assert";
import { PitrSpec, archiveSettings, pitrProblems, renderServerPgbackrestConf, restoreArgs } from "../../render/pitr";
import { pitrSpec } from "../support/pitr";

const SPEC: PitrSpec = pitrSpec({
    endpoint: "https://nyc3.digitaloceanspaces.com",
    region: "nyc3",
    bucket: "hanzo-k8s-postgres-backups",
    prefix: "/pitr",
    uriStyle: "host",
});

describe("render/pitr: pgBackRest's configuration as the stack renders it", () => {
    it("the server's pgbackrest.conf: the bucket over TLS, async push bounded by the WAL budget, time retention, no key", () => {
        assert.strictEqual(
            renderServerPgbackrestConf(SPEC),
            `# pgbackrest.conf rendered by hanzo-sql (render/pitr.ts). The S3 key and secret are not here: pgBackRest
# reads them from PGBACKREST_REPO1_S3_KEY and PGBACKREST_REPO1_S3_KEY_SECRET (the backup Secret).

[global]
repo1-type=s3
repo1-s3-endpoint=nyc3.digitaloceanspaces.com
repo1-storage-port=443
repo1-s3-region=nyc3
repo1-s3-bucket=hanzo-k8s-postgres-backups
repo1-s3-uri-style=host
repo1-path=/pitr
repo1-retention-full-type=time
repo1-retention-full=7
compress-type=zst
process-max=2
log-level-console=info
log-level-file=off
archive-async=y
spool-path=/var/spool/pgbackrest
lock-path=/var/spool/pgbackrest/lock
archive-push-queue-max=12800MiB
archive-timeout=30
archive-get-queue-max=256MiB

[db]
pg1-path=/var/lib/postgresql/data/pgdata
pg1-socket-path=/var/run/postgresql
pg1-port=5432
pg1-user=hanzo
`,
        );
    });

    it("postgresql.conf's archive lines", () => {
        assert.deepStrictEqual(
            archiveSettings(SPEC).map((s) => `${s.name} = ${s.value}`),
            [
                "archive_mode = on",
                "archive_command = 'pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db archive-push %p'",
                "archive_timeout = 60s",
                "max_slot_wal_keep_size = 12800MB",
                `restore_command = 'pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db archive-get %f "%p"'`,
            ],
        );
    });

    it("restore arguments for each target; a scratch server never archives", () => {
        const o = { pgdata: "/restore", archive: false };
        assert.deepStrictEqual(restoreArgs({ type: "end" }, o), ["--pg1-path=/restore", "--archive-mode=off", "restore"]);
        assert.deepStrictEqual(restoreArgs({ type: "time", time: "2026-12-05 02:30:00+00" }, { ...o, archive: true }), [
            "--type=time",
            "--target=2026-12-05 02:30:00+00",
            "--target-action=promote",
            "--pg1-path=/restore",
            "restore",
        ]);
        assert.deepStrictEqual(restoreArgs({ type: "name", name: "before-x" }, o).slice(0, 3), [
            "--type=name",
            "--target=before-x",
            "--target-action=promote",
        ]);
        assert.throws(() => restoreArgs({ type: "time", time: "yesterday" }, o), /must look like "2026-12-05 02:30:00\+00"/);
    });

    it("refuses what pgBackRest cannot use, naming the key and the fix", () => {
        assert.deepStrictEqual(
            pitrProblems({ ...SPEC, repo: { ...SPEC.repo, endpoint: "http://minio:9000" }, archiveTimeoutSeconds: 300 }),
            [
                'pitr endpoint "http://minio:9000": pgBackRest reaches S3 over TLS only; give https://host[:port] (backupEndpoint)',
                "pitrArchiveTimeoutSeconds must be from 1 to 60 (a quiet server must still archive within a minute; got 300)",
            ],
        );
        assert.deepStrictEqual(pitrProblems({ ...SPEC, repo: { ...SPEC.repo, endpoint: "https://10.0.0.5:9000" } }), [
            `pitr endpoint "https://10.0.0.5:9000": pgBackRest 2.45 verifies the certificate against DNS names only (an IP address never matches); give the endpoint's host name (backupEndpoint)`,
        ]);
        assert.throws(
            () => renderServerPgbackrestConf({ ...SPEC, retentionDays: 0 }),
            /pitrRetentionDays must be a whole number of days from 1/,
        );
    });
});
