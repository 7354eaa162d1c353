/**
 * Classes of bad input that once passed both the plan and the gate (issue #11): each now fails before any
 * resource is declared, naming the key. Several values per class.
 */
import * as assert from "assert";
import { schedulePeriodSeconds } from "../../stacks/schedule";
import { VALID, load, problems, withServices } from "../support/config";

describe("bad input that used to pass", () => {
    describe("impossible or too rare backup schedules", () => {
        it("measures the longest gap over leap years, with croner's calendar", () => {
            assert.strictEqual(schedulePeriodSeconds("0 */6 * * *"), 6 * 3600);
            assert.strictEqual(schedulePeriodSeconds("0 0 1-28 * *"), 4 * 86_400); // 28th → 1st of a 31-day month
            assert.strictEqual(schedulePeriodSeconds("0 3 * * 1,4"), 4 * 86_400);
            assert.strictEqual(schedulePeriodSeconds("0 0 1 * 1"), 7 * 86_400); // day of month OR day of week, as cron does
            assert.strictEqual(schedulePeriodSeconds("@yearly"), 366 * 86_400); // 2028 is a leap year
            assert.strictEqual(schedulePeriodSeconds("0 0 29 2 *"), Infinity); // once in four (or eight) years
            assert.strictEqual(schedulePeriodSeconds("0 0 30 2 *"), Infinity); // never
            assert.strictEqual(schedulePeriodSeconds("0 0 31 4,6,9,11 *"), Infinity); // never
        });

        for (const [schedule, why] of [
            ["0 0 30 2 *", "runs at most once in two years (or never)"],
            ["0 0 31 4 *", "runs at most once in two years (or never)"],
            ["0 0 29 2 *", "runs at most once in two years (or never)"],
            ["@monthly", "leaves up to 744h between backups"],
            ["0 0 1 1,7 *", "leaves up to 4416h between backups"],
        ]) {
            it(`rejects "${schedule}": ${why}`, () => {
                assert.deepStrictEqual(problems({ ...VALID, backupSchedule: schedule }), [
                    `hanzo-sql:backupSchedule = "${schedule}": ${why}; backups must run at least every 7 days (the standard's schedule is "0 */6 * * *", every 6 hours)`,
                ]);
            });
        }

        it("accepts weekly and finer schedules", () => {
            for (const schedule of ["@weekly", "0 3 * * 1,4", "*/15 * * * *", "0 */6 * * *"]) {
                assert.strictEqual(load({ ...VALID, backupSchedule: schedule }).backup.schedule, schedule);
            }
        });
    });

    describe("absurd sizes", () => {
        it("rejects a memory limit, CPU limit or volume larger than any node or volume", () => {
            assert.deepStrictEqual(problems({ ...VALID, memoryLimit: "64Ti", memoryRequest: "1Gi", cpuLimit: "4000", storageSize: "17Ti" }), [
                'hanzo-sql:memoryLimit = "64Ti": must be at most "1Ti" (more than any node offers; shared_buffers and the other memory settings follow it)',
                'hanzo-sql:cpuLimit = "4000": must be at most 256 cores (more than any node offers)',
                'hanzo-sql:storageSize = "17Ti": must be at most "16Ti", the largest DigitalOcean block storage volume',
            ]);
            assert.deepStrictEqual(problems({ ...VALID, memoryLimit: "2000G" }), [
                'hanzo-sql:memoryLimit = "2000G": must be at most "1Ti" (more than any node offers; shared_buffers and the other memory settings follow it)',
            ]);
        });
        it("accepts the largest sizes allowed", () => {
            const spec = load({ ...VALID, memoryLimit: "1Ti", cpuLimit: "256", storageSize: "16Ti" });
            assert.deepStrictEqual([spec.instance.memoryLimitBytes, spec.instance.storageSize], [2 ** 40, "16Ti"]);
        });
    });

    describe("numbers past any sane range", () => {
        it("rejects integers that are not exact in JavaScript (1e20 from YAML)", () => {
            // eslint-disable-next-line no-loss-of-precision -- the inexact literal is the case under test
            assert.deepStrictEqual(problems({ ...VALID, poolMaxClientConn: 1e20, adminPort: 99999999999999999999 }), [
                'hanzo-sql:adminPort = "100000000000000000000": must be a whole number',
                'hanzo-sql:poolMaxClientConn = "100000000000000000000": must be a whole number',
            ]);
        });
        it("bounds every number by what it means", () => {
            assert.deepStrictEqual(
                problems({ ...VALID, terminationGracePeriodSeconds: 86_400, backupRetentionDays: 100_000, poolMaxClientConn: 1_000_000, poolReplicas: 500 }),
                [
                    "hanzo-sql:terminationGracePeriodSeconds = 86400: must be at most 3600: a fast shutdown's checkpoint takes at most checkpoint_timeout (10min), and a longer grace only stalls node drains",
                    "hanzo-sql:backupRetentionDays = 100000: must be at most 36500 days (100 years); regulated data needs 2555 (7 years)",
                    "hanzo-sql:poolMaxClientConn = 1000000: must be 1-100000 (each client holds a file descriptor of the pooler)",
                    "hanzo-sql:poolReplicas = 500: must be 1-20 (each replica opens its own pools to the server, whose max_connections is 200)",
                ],
            );
        });
        it("bounds a service's numbers too, whatever YAML made of them", () => {
            assert.deepStrictEqual(problems(withServices({ name: "iam", connectionLimit: 1e20 }, { name: "kms", connectionLimit: 500, backupRetentionDays: 1e9 })), [
                "hanzo-sql:services[0].connectionLimit = 100000000000000000000: must be a whole number from 1 to 200 (the server's max_connections), or -1 for no limit",
                "hanzo-sql:services[1].connectionLimit = 500: must be a whole number from 1 to 200 (the server's max_connections), or -1 for no limit",
            ]);
            assert.deepStrictEqual(problems(withServices({ name: "kms", backupRetentionDays: 1e9 })), [
                "hanzo-sql:services[0].backupRetentionDays = 1000000000: must be a whole number of days up to 36500 (0: not backed up; e.g. 2555 for 7 years)",
            ]);
        });
    });

    describe("reserved names", () => {
        it("rejects a service named like the server's own databases", () => {
            assert.deepStrictEqual(problems(withServices("postgres", "template1", "template0")), [
                'hanzo-sql:services[0].name = "postgres": database name is one of the server\'s own databases (postgres, template0, template1); give the service a name of its own',
                'hanzo-sql:services[1].name = "template1": database name is one of the server\'s own databases (postgres, template0, template1); give the service a name of its own',
                'hanzo-sql:services[2].name = "template0": database name is one of the server\'s own databases (postgres, template0, template1); give the service a name of its own',
            ]);
        });
        it("rejects names starting pg_, whose role PostgreSQL refuses to create", () => {
            assert.deepStrictEqual(problems(withServices("pg_audit")), [
                'hanzo-sql:services[0].name = "pg_audit": database name must not start with "pg_": PostgreSQL reserves role names with that prefix, and the role would be "pg_audit_user"',
            ]);
        });
        it("rejects reserved legacy database names", () => {
            assert.deepStrictEqual(problems({ ...VALID, legacyDatabases: ["hanzo_cloud", "postgres", "pg_old"] }), [
                'hanzo-sql:legacyDatabases[1] = "postgres": is one of the server\'s own databases (postgres, template0, template1); give the service a name of its own',
                'hanzo-sql:legacyDatabases[2] = "pg_old": must not start with "pg_": PostgreSQL reserves role names with that prefix, and the role would be "pg_old_user"',
            ]);
        });
        it("still accepts postgres_test in the test environment (not a system database)", () => {
            const spec = load({ environment: "test", clusterName: "hanzo-k8s", services: ["postgres"] });
            assert.deepStrictEqual(spec.services.map((s) => [s.database, s.role]), [["postgres_test", "postgres_test_user"]]);
        });
    });

    describe("keys named like Object.prototype members", () => {
        it("reports them as unknown keys instead of reading the prototype", () => {
            const lines = problems({ ...VALID, constructor: "x", toString: "y", __proto__x: 1, hasOwnProperty: "z" });
            assert.deepStrictEqual(lines.map((l) => l.split(":").slice(0, 2).join(":").replace(/ = .*/, "")), [
                "hanzo-sql:constructor",
                "hanzo-sql:toString",
                "hanzo-sql:__proto__x",
                "hanzo-sql:hasOwnProperty",
            ]);
            assert.ok(lines.every((l) => l.includes(": unknown key; known keys: environment, ")), lines.join("\n"));
        });
    });

    describe("values that flow into URLs or paths", () => {
        it("rejects a backupRegion that is not a region slug", () => {
            for (const region of ["evil.example/x?", "nyc3.example.com", "NYC3", "nyc3/", ""]) {
                assert.deepStrictEqual(problems({ ...VALID, backupRegion: region }), [
                    `hanzo-sql:backupRegion = ${JSON.stringify(region)}: must be a DigitalOcean Spaces region such as nyc3, sfo3, ams3, fra1, sgp1 or syd1 (it becomes the endpoint's host name)`,
                ]);
            }
        });
        it("rejects a backupEndpoint with credentials, a query, a fragment or a path", () => {
            const own = { ...VALID, backupAccessKeyId: "a", backupSecretAccessKey: "b" };
            const secret = ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"];
            // The value is printed with its password redacted.
            assert.deepStrictEqual(problems({ ...own, backupEndpoint: "http://user:pw@minio:9000" }, { secret }), [
                'hanzo-sql:backupEndpoint = "http://user:***@minio:9000": must be an http(s) URL of an S3 API, e.g. http://minio.minio.svc:9000 (no credentials in the URL)',
            ]);
            for (const [endpoint, why] of [
                ["http://minio:9000/?x=1", "no query or fragment"],
                ["http://minio:9000#frag", "no query or fragment"],
                ["http://minio:9000/bucket", "no path"],
                ["ftp://minio:9000", "the scheme must be http or https"],
                ["minio:9000", "the scheme must be http or https"],
            ]) {
                assert.deepStrictEqual(problems({ ...own, backupEndpoint: endpoint }, { secret }), [
                    `hanzo-sql:backupEndpoint = ${JSON.stringify(endpoint.replace("user:pw@", "user:***@"))}: must be an http(s) URL of an S3 API, e.g. http://minio.minio.svc:9000 (${why})`,
                ]);
            }
            assert.strictEqual(load({ ...own, backupEndpoint: "http://minio.minio.svc:9000/" }, { secret }).backup.endpoint, "http://minio.minio.svc:9000");
        });
        it("rejects a kmsHostApi or kmsEnvSlug that would smuggle something into the sync resource", () => {
            assert.deepStrictEqual(problems({ ...VALID, kmsHostApi: "https://kms.hanzo.ai/api?token=x", kmsEnvSlug: "prod/../dev" }), [
                'hanzo-sql:kmsHostApi = "https://kms.hanzo.ai/api?token=x": must be an http(s) URL such as https://kms.hanzo.ai/api (no query or fragment)',
                'hanzo-sql:kmsEnvSlug = "prod/../dev": must be a KMS environment slug such as prod (lowercase letters, digits, hyphens, underscores)',
            ]);
        });
    });
});
