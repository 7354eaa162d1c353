/**
 * Classes of bad input that once passed both the plan and the gate (issue #11): each now fails before any
 * resource is declared, naming the key. Several values per class.
 */
import * as assert from "assert";
import { schedulePeriodSeconds } from "../../stacks/schedule";
import { VALID, load, on, problems, withServices } from "../support/config";

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

        it("rejects a restore drill that never runs or runs less than monthly (its staleness alert would wait forever)", () => {
            for (const [schedule, why] of [
                ["0 0 30 2 *", "runs at most once in two years (or never)"],
                ["0 0 31 4,6,9,11 *", "runs at most once in two years (or never)"],
                ["@yearly", "leaves up to 8784h between drills"],
                ["0 0 1 */2 *", "leaves up to 1488h between drills"],
            ]) {
                assert.deepStrictEqual(problems({ ...VALID, backupDrillSchedule: schedule }), [
                    `hanzo-sql:backupDrillSchedule = "${schedule}": ${why}; restore drills must run at least every 31 days (the default is "30 3 * * *", daily)`,
                ]);
            }
            for (const schedule of ["@monthly", "0 4 * * 0", "30 3 * * *"]) {
                assert.deepStrictEqual(on(on(load({ ...VALID, backupDrillSchedule: schedule }).backup).drill).schedule, schedule);
            }
        });

        it("accepts weekly and finer schedules", () => {
            for (const schedule of ["@weekly", "0 3 * * 1,4", "*/15 * * * *", "0 */6 * * *"]) {
                assert.strictEqual(on(load({ ...VALID, backupSchedule: schedule }).backup).schedule, schedule);
            }
        });
    });

    describe("absurd sizes", () => {
        it("rejects a memory limit, CPU limit or volume larger than any node or volume", () => {
            // Problems come in the schema's key order.
            assert.deepStrictEqual(
                problems({ ...VALID, memoryLimit: "64Ti", memoryRequest: "1Gi", cpuLimit: "4000", storageSize: "17Ti" }),
                [
                    'hanzo-sql:storageSize = "17Ti": must be at most "16Ti", the largest DigitalOcean block storage volume',
                    'hanzo-sql:cpuLimit = "4000": must be at most 256 cores (more than any node offers)',
                    'hanzo-sql:memoryLimit = "64Ti": must be at most "1Ti" (more than any node offers; shared_buffers and the other memory settings follow it)',
                ],
            );
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
        it("rejects 1e20 and other inexact or fractional numbers in every integer key", () => {
            for (const key of [
                "terminationGracePeriodSeconds",
                "hnswEfSearch",
                "hnswMaxScanTuples",
                "adminPort",
                "backupRetentionDays",
                "poolDefaultPoolSize",
                "poolReplicas",
                "kmsResyncInterval",
            ]) {
                for (const value of [1e20, 2 ** 53, 1.5, "12abc"]) {
                    // Pulumi hands the program the YAML value as a string: 1e20 arrives as "100000000000000000000".
                    const raw = typeof value === "string" ? value : JSON.stringify(value);
                    assert.deepStrictEqual(
                        problems({ ...VALID, [key]: value }),
                        [`hanzo-sql:${key} = ${JSON.stringify(raw)}: must be a whole number`],
                        `${key}: ${value}`,
                    );
                }
            }
        });
        it("bounds the KMS resync interval", () => {
            for (const value of [86_401, 10 ** 9]) {
                assert.deepStrictEqual(problems({ ...VALID, kmsResyncInterval: value }), [
                    `hanzo-sql:kmsResyncInterval = ${value}: must be at most 86400 seconds (a day): a rotated password would reach the service a day late`,
                ]);
            }
        });
        it("rejects a service's passwordVersion past exact integers", () => {
            for (const value of [1e20, 2 ** 53 + 2]) {
                assert.deepStrictEqual(problems(withServices({ name: "iam", passwordVersion: value })), [
                    `hanzo-sql:services[0].passwordVersion = ${JSON.stringify(value)}: must be a positive whole number; raise it by one to rotate the service's password`,
                ]);
            }
        });
        it("rejects integers that are not exact in JavaScript (1e20 from YAML)", () => {
            // eslint-disable-next-line no-loss-of-precision -- the inexact literal is the case under test
            assert.deepStrictEqual(problems({ ...VALID, poolMaxClientConn: 1e20, adminPort: 99999999999999999999 }), [
                'hanzo-sql:adminPort = "100000000000000000000": must be a whole number',
                'hanzo-sql:poolMaxClientConn = "100000000000000000000": must be a whole number',
            ]);
        });
        it("bounds every number by what it means", () => {
            assert.deepStrictEqual(
                problems({
                    ...VALID,
                    terminationGracePeriodSeconds: 86_400,
                    backupRetentionDays: 100_000,
                    poolMaxClientConn: 1_000_000,
                    poolReplicas: 500,
                }),
                [
                    "hanzo-sql:terminationGracePeriodSeconds = 86400: must be at most 3600: a fast shutdown's checkpoint takes at most checkpoint_timeout (10min), and a longer grace only stalls node drains",
                    "hanzo-sql:backupRetentionDays = 100000: must be at most 36500 days (100 years); regulated data needs 2555 (7 years)",
                    "hanzo-sql:poolMaxClientConn = 1000000: must be 1-100000 (each client holds a file descriptor of the pooler)",
                    "hanzo-sql:poolReplicas = 500: must be 1-20 (each replica opens its own pools to the server, whose max_connections is 200)",
                ],
            );
        });
        it("bounds a service's numbers too, whatever YAML made of them", () => {
            assert.deepStrictEqual(
                problems(
                    withServices({ name: "iam", connectionLimit: 1e20 }, { name: "kms", connectionLimit: 500, backupRetentionDays: 1e9 }),
                ),
                [
                    "hanzo-sql:services[0].connectionLimit = 100000000000000000000: must be a whole number from 1 to 200 (the server's max_connections), or -1 for no limit",
                    "hanzo-sql:services[1].connectionLimit = 500: must be a whole number from 1 to 200 (the server's max_connections), or -1 for no limit",
                    "hanzo-sql:services[1].backupRetentionDays = 1000000000: must be a whole number of days up to 36500 (0: not backed up; e.g. 2555 for 7 years)",
                ],
            );
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
        it("rejects reserved names given as a service's database or previous name", () => {
            assert.deepStrictEqual(
                problems(
                    withServices(
                        { name: "app", database: "template1" },
                        { name: "meta", database: "pg_meta" },
                        { name: "web", renamedFrom: "Postgres" },
                    ),
                ),
                [
                    'hanzo-sql:services[0].database = "template1": database name is one of the server\'s own databases (postgres, template0, template1); give the service a name of its own',
                    'hanzo-sql:services[1].database = "pg_meta": database name must not start with "pg_": PostgreSQL reserves role names with that prefix, and the role would be "pg_meta_user"',
                    'hanzo-sql:services[2].renamedFrom = "Postgres": previous service name must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere)',
                ],
            );
        });
        it("still accepts postgres_test in the test environment (not a system database)", () => {
            const spec = load({ environment: "test", clusterName: "hanzo-k8s", services: ["postgres"] });
            assert.deepStrictEqual(
                spec.services.map((s) => [s.database, s.role]),
                [["postgres_test", "postgres_test_user"]],
            );
        });
    });

    describe("keys named like Object.prototype members", () => {
        it("reports them as unknown keys instead of reading the prototype", () => {
            const lines = problems({ ...VALID, constructor: "x", toString: "y", __proto__x: 1, hasOwnProperty: "z" });
            assert.deepStrictEqual(
                lines.map((l) => l.split(":").slice(0, 2).join(":").replace(/ = .*/, "")),
                ["hanzo-sql:constructor", "hanzo-sql:toString", "hanzo-sql:__proto__x", "hanzo-sql:hasOwnProperty"],
            );
            assert.ok(
                lines.every((l) => l.includes(": unknown key; known keys: environment, ")),
                lines.join("\n"),
            );
        });
        it("reports them as unknown fields of a service and unknown extensions, too", () => {
            const fields = problems(withServices({ name: "iam", constructor: "x", toString: "y", valueOf: 1 }));
            assert.deepStrictEqual(
                fields.map((l) => l.slice(0, l.indexOf(": unknown field"))),
                [
                    'hanzo-sql:services[0].constructor = "[not shown]"',
                    'hanzo-sql:services[0].toString = "[not shown]"',
                    'hanzo-sql:services[0].valueOf = "[not shown]"',
                ],
            );
            assert.deepStrictEqual(
                problems({ ...VALID, extensionVersions: { constructor: "1.0", hasOwnProperty: "2.0" } }).map((l) =>
                    l.slice(0, l.indexOf(":", 20)),
                ),
                ['hanzo-sql:extensionVersions.constructor = "1.0"', 'hanzo-sql:extensionVersions.hasOwnProperty = "2.0"'],
            );
            const json = '{"environment":"prod","clusterName":"c","services":["iam"],"__proto__":{"polluted":true}}';
            assert.deepStrictEqual(
                problems(JSON.parse(json)).map((l) => l.slice(0, l.indexOf(" ="))),
                ["hanzo-sql:__proto__"],
            );
            assert.strictEqual(({} as Record<string, unknown>).polluted, undefined);
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
            assert.deepStrictEqual(on(load({ ...own, backupEndpoint: "http://minio.minio.svc:9000/" }, { secret }).backup).store, {
                kind: "s3",
                endpoint: "http://minio.minio.svc:9000",
                accessKeyId: "a",
                secretAccessKey: "b",
            });
        });
        it("rejects a backupPrefix or backupBucket that would leave its place in the bucket's keys", () => {
            for (const prefix of ["../other", "/abs", "a//b", "trailing/", "a b", "x?y"]) {
                assert.deepStrictEqual(problems({ ...VALID, backupPrefix: prefix }), [
                    `hanzo-sql:backupPrefix = ${JSON.stringify(prefix)}: must be a key prefix without leading or trailing slashes, e.g. postgres`,
                ]);
            }
            for (const bucket of ["evil.example/x", "b", "Bucket", "a_b", "x?y=1"]) {
                assert.deepStrictEqual(problems({ ...VALID, backupBucket: bucket }), [
                    `hanzo-sql:backupBucket = ${JSON.stringify(bucket)}: must be a bucket name: 3-63 lowercase letters, digits and hyphens`,
                ]);
            }
        });
        it("rejects host names, namespaces, slugs and table names that carry more than a name", () => {
            assert.deepStrictEqual(
                problems({
                    ...VALID,
                    adminHost: "evil.example/x?",
                    clusterName: "c/../d",
                    kmsProjectSlug: "org/../other",
                    monitoringNamespace: "ns;x",
                }),
                [
                    'hanzo-sql:clusterName = "c/../d": must be a DOKS cluster name (lowercase letters, digits, hyphens)',
                    'hanzo-sql:adminHost = "evil.example/x?": must be a host name or IP address',
                    'hanzo-sql:monitoringNamespace = "ns;x": must be a Kubernetes namespace name',
                    'hanzo-sql:kmsProjectSlug = "org/../other": must be a KMS project slug (lowercase letters, digits, hyphens)',
                ],
            );
            assert.deepStrictEqual(problems(withServices({ name: "iam", namespace: "a/b", requiredTables: ["users; DROP TABLE x"] })), [
                'hanzo-sql:services[0].namespace = "a/b": must be a Kubernetes namespace name',
                'hanzo-sql:services[0].requiredTables = ["users; DROP TABLE x"]: must be a list of table names (`table` or `schema.table`, lowercase)',
            ]);
            assert.deepStrictEqual(
                problems({ ...withServices({ name: "iam", extensions: ["pgcrypto"] }), extensionVersions: { pgcrypto: "1.3'; DROP" } }),
                [
                    `hanzo-sql:extensionVersions.pgcrypto = "1.3'; DROP": must be a version string as the extension names it, e.g. "0.8.0" or "1.6" (SELECT name, version FROM pg_available_extension_versions)`,
                ],
            );
        });
        it("rejects a kmsHostApi or kmsEnvSlug that would smuggle something into the sync resource", () => {
            assert.deepStrictEqual(problems({ ...VALID, kmsHostApi: "https://kms.hanzo.ai/api?token=x", kmsEnvSlug: "prod/../dev" }), [
                'hanzo-sql:kmsHostApi = "https://kms.hanzo.ai/api?token=x": must be an http(s) URL such as https://kms.hanzo.ai/api (no query or fragment)',
                'hanzo-sql:kmsEnvSlug = "prod/../dev": must be a KMS environment slug such as prod (lowercase letters, digits, hyphens, underscores)',
            ]);
        });
    });
});
