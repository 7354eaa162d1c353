import * as assert from "assert";
import { VALID, load, problems } from "../support/config";
import { HANZO_SQL_IMAGE } from "../../render/pitr";
import { pitrSpec } from "../support/pitr";

describe("stack keys of point-in-time recovery (pitr*)", function () {
    this.timeout(60_000);
    it("default off, and a stack without them loads as before", () => {
        assert.doesNotThrow(() => load(VALID));
    });

    it("name the key and the fix for bad values, before any resource", () => {
        assert.deepStrictEqual(
            problems({
                ...VALID,
                pitrRetentionDays: 0,
                pitrArchiveTimeoutSeconds: 300,
                pitrFullSchedule: "0 1 1 * *",
                pitrDiffSchedule: "daily",
            }),
            [
                "hanzo-sql:pitrRetentionDays = 0: must be a whole number of days from 1 to 36500",
                'hanzo-sql:pitrFullSchedule = "0 1 1 * *": leaves up to 744h between full base backups; full base backups must run at least every 7 days (a restore replays everything since the last one)',
                'hanzo-sql:pitrDiffSchedule = "daily": is not a cron schedule: needs 5 fields (minute hour day-of-month month day-of-week), found 1',
                "hanzo-sql:pitrArchiveTimeoutSeconds = 300: must be from 1 to 60 seconds: a quiet server must still archive within a minute",
            ],
        );
    });

    it('are accepted with standbys (each standby\'s sidecar serves without stanza-create, docs/pitr.md "With standbys")', () => {
        assert.doesNotThrow(() => load({ ...VALID, image: HANZO_SQL_IMAGE, pitrEnabled: true, standbys: 1 }));
        assert.doesNotThrow(() => load({ ...VALID, image: HANZO_SQL_IMAGE, pitrEnabled: true, standbys: 2, synchronousStandbys: 1 }));
    });

    it("need backups, an image with pgBackRest, an https endpoint by host name, and a window no longer than the shortest dump retention", () => {
        assert.deepStrictEqual(
            problems({
                ...VALID,
                pitrEnabled: true,
                backupEnabled: false,
            }),
            [
                `hanzo-sql:image = "pgvector/pgvector:0.8.0-pg16": has no pgBackRest, which archive_command runs in the server container: set image: ${HANZO_SQL_IMAGE} (image/Containerfile), or pitrEnabled: false`,
                "hanzo-sql:pitrEnabled = true: the WAL archive goes to the backup bucket: set backupEnabled: true, or pitrEnabled: false",
            ],
        );
        assert.deepStrictEqual(
            problems(
                {
                    ...VALID,
                    image: HANZO_SQL_IMAGE,
                    pitrEnabled: true,
                    pitrRetentionDays: 20,
                    backupEndpoint: "http://minio.minio.svc:9000",
                    backupAccessKeyId: "k",
                    backupSecretAccessKey: "s",
                    services: ["iam", { name: "cloud", backupRetentionDays: 14 }, { name: "console", backupRetentionDays: 0 }],
                },
                { secret: ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"] },
            ),
            [
                'hanzo-sql:backupEndpoint = "http://minio.minio.svc:9000": pgBackRest reaches S3 over TLS only: serve the endpoint over https, or set pitrEnabled: false',
                "hanzo-sql:pitrRetentionDays = 20: exceeds the shortest dump retention, 14 days (cloud): the archive holds every database, so it would keep data past its class; set pitrRetentionDays to 14 or less",
            ],
        );
        assert.deepStrictEqual(
            problems(
                {
                    ...VALID,
                    // pinned by digest after the tag (the tag names the major version the configuration checks)
                    image: `${HANZO_SQL_IMAGE}@sha256:${"0".repeat(64)}`,
                    pitrEnabled: true,
                    pitrRetentionDays: 7,
                    backupEndpoint: "https://10.0.0.5:9000",
                    backupAccessKeyId: "k",
                    backupSecretAccessKey: "s",
                },
                { secret: ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"] },
            ),
            [
                'hanzo-sql:backupEndpoint = "https://10.0.0.5:9000": pgBackRest verifies the endpoint\'s certificate by DNS name only: give its host name (e.g. https://minio.minio.svc:9000), not an IP address',
            ],
        );
    });

    it("load with pitrEnabled and what it needs: the archive's spec (bucket, prefix beside the dumps', WAL budget, PGDATA by layout)", () => {
        const spec = load({ ...VALID, image: HANZO_SQL_IMAGE, pitrEnabled: true });
        assert.deepStrictEqual(
            spec.instance.archive,
            pitrSpec({
                endpoint: "https://nyc3.digitaloceanspaces.com",
                region: "nyc3",
                bucket: spec.backup.enabled ? spec.backup.bucket : "",
                prefix: "/postgres-pitr",
                uriStyle: "host",
            }),
        );
        assert.deepStrictEqual(spec.pitr, { fullSchedule: "0 1 * * 0", diffSchedule: "0 1 * * 1-6" });
        assert.strictEqual(load({ ...VALID, image: HANZO_SQL_IMAGE }).instance.archive, undefined);
    });

    it("refuse pitrEndpointCa without an endpoint of your own, and one that is not a PEM certificate", () => {
        assert.deepStrictEqual(
            problems({
                ...VALID,
                image: HANZO_SQL_IMAGE,
                pitrEnabled: true,
                pitrEndpointCa: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            }),
            [
                'hanzo-sql:pitrEndpointCa = "[certificate]": is for an endpoint of your own (backupEndpoint); DigitalOcean Spaces is verified with the image\'s CAs: remove it',
            ],
        );
        assert.deepStrictEqual(problems({ ...VALID, pitrEndpointCa: "not a certificate" }), [
            'hanzo-sql:pitrEndpointCa = "not a certificate": must be one PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)',
        ]);
    });
});
