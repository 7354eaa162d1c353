/**
 * Configuration that cannot work or opens a door (issue 21): refused before any resource is declared, each
 * problem naming the key, the value (unless secret) and the fix.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR, stackConfig } from "../../cli/plan/stackFile";
import { MAX_YAML_VALUES, expandsBeyond } from "../../cli/plan/yamlFile";
import { VALID, load, on, problems, withServices } from "../support/config";

const DIGEST = `sha256:${"c".repeat(64)}`;

describe("configuration that cannot work or opens a door", () => {
    describe("images", () => {
        it("refuses a server image of another PostgreSQL major than the data's (16), or one that names none", () => {
            for (const [image, rule] of [
                [
                    "postgres:15.6-bookworm",
                    "runs PostgreSQL 15, but the stack's data is PostgreSQL 16: the server would refuse the data directory and crash-loop; use a PostgreSQL 16 image (a major upgrade needs pg_upgrade or a dump and restore, not an image change)",
                ],
                [
                    "pgvector/pgvector:0.7.4-pg15",
                    "runs PostgreSQL 15, but the stack's data is PostgreSQL 16: the server would refuse the data directory and crash-loop; use a PostgreSQL 16 image (a major upgrade needs pg_upgrade or a dump and restore, not an image change)",
                ],
                [
                    "pgvector/pgvector:0.8.0-pg17",
                    "runs PostgreSQL 17, but the stack's data is PostgreSQL 16: the server would refuse the data directory and crash-loop; use a PostgreSQL 16 image (a major upgrade needs pg_upgrade or a dump and restore, not an image change)",
                ],
                [
                    `ghcr.io/hanzoai/sql@${DIGEST}`,
                    "must name its PostgreSQL major version in its tag (e.g. pgvector/pgvector:0.8.0-pg16 or postgres:16.4, a digest may follow), so the stack can check it is 16, the data's",
                ],
                [
                    "registry.local:5000/db:2024.11",
                    "must name its PostgreSQL major version in its tag (e.g. pgvector/pgvector:0.8.0-pg16 or postgres:16.4, a digest may follow), so the stack can check it is 16, the data's",
                ],
            ]) {
                assert.deepStrictEqual(problems({ ...VALID, image }), [`hanzo-sql:image = ${JSON.stringify(image)}: ${rule}`]);
            }
            for (const image of [
                "postgres:16.4-bookworm",
                "postgres:16",
                "ghcr.io/hanzoai/sql:16.4-0.8.0",
                `postgres:16.4@${DIGEST}`,
                "pgvector/pgvector:pg16",
            ]) {
                assert.strictEqual(load({ ...VALID, image }).instance.image, image);
            }
        });

        it("refuses a dump image whose pg_dump is older than the server, and accepts a newer one", () => {
            assert.deepStrictEqual(problems({ ...VALID, backupDumpImage: "postgres:15.8-bookworm" }), [
                `hanzo-sql:backupDumpImage = "postgres:15.8-bookworm": has PostgreSQL 15's pg_dump, which refuses a PostgreSQL 16 server ("server version mismatch"); use a PostgreSQL 16 (or newer) client image`,
            ]);
            assert.strictEqual(
                on(load({ ...VALID, backupDumpImage: "postgres:17.2-bookworm" }).backup).dumpImage,
                "postgres:17.2-bookworm",
            );
        });

        it("refuses tags that name no version (they move like :latest) and malformed tags, for every image key", () => {
            assert.deepStrictEqual(
                problems({
                    ...VALID,
                    image: "postgres:bookworm",
                    backupS3Image: "amazon/aws-cli:stable",
                    exporterImage: "quay.io/prometheuscommunity/postgres-exporter:main",
                    backupDumpImage: "postgres:-16",
                }),
                [
                    'hanzo-sql:image = "postgres:bookworm": must be pinned by a version tag or digest; "bookworm" names no version and moves like :latest (STANDARD defect 7)',
                    'hanzo-sql:backupDumpImage = "postgres:-16": has a malformed tag (letters, digits, _ . - and at most 128 characters); pin a version tag or digest',
                    'hanzo-sql:backupS3Image = "amazon/aws-cli:stable": must be pinned by a version tag or digest; "stable" names no version and moves like :latest (STANDARD defect 7)',
                    'hanzo-sql:exporterImage = "quay.io/prometheuscommunity/postgres-exporter:main": must be pinned by a version tag or digest; "main" names no version and moves like :latest (STANDARD defect 7)',
                ],
            );
        });
    });

    describe("names", () => {
        it("refuses services named like reserved SQL key words, public, or whose role would be one (current_user)", () => {
            assert.deepStrictEqual(problems(withServices("select", "user", "left", "public", "current", "session", "system")), [
                `hanzo-sql:services[0].name = "select": database name "select" is a key word PostgreSQL reserves, which SQL cannot take as a name unquoted; give the service another name`,
                `hanzo-sql:services[1].name = "user": database name "user" is a key word PostgreSQL reserves, which SQL cannot take as a name unquoted; give the service another name`,
                `hanzo-sql:services[2].name = "left": database name "left" is a key word PostgreSQL reserves, which SQL cannot take as a name unquoted; give the service another name`,
                `hanzo-sql:services[3].name = "public": database name is the name of every database's default schema and of the pseudo-role PUBLIC (GRANT … TO public means every role); give the service a name of its own`,
                `hanzo-sql:services[4].name = "current": database name would give the role "current_user", a key word PostgreSQL reserves (SQL reads it as the session's user, not a name); give the service another name`,
                `hanzo-sql:services[5].name = "session": database name would give the role "session_user", a key word PostgreSQL reserves (SQL reads it as the session's user, not a name); give the service another name`,
                `hanzo-sql:services[6].name = "system": database name would give the role "system_user", a key word PostgreSQL reserves (SQL reads it as the session's user, not a name); give the service another name`,
            ]);
        });

        it("refuses a reserved key word as a service's database or a legacy database, and accepts unreserved ones and hanzo", () => {
            assert.deepStrictEqual(problems({ ...VALID, legacyDatabases: ["table"] }), [
                `hanzo-sql:legacyDatabases[0] = "table": "table" is a key word PostgreSQL reserves, which SQL cannot take as a name unquoted; give the service another name`,
            ]);
            assert.deepStrictEqual(problems(withServices({ name: "app", database: "order" })), [
                `hanzo-sql:services[0].database = "order": database name "order" is a key word PostgreSQL reserves, which SQL cannot take as a name unquoted; give the service another name`,
            ]);
            // Unreserved key words are names; hanzo is lux-k8s's service database (its role is hanzo_user, not the superuser).
            assert.deepStrictEqual(
                load(withServices("schema", "role", "data", "hanzo")).services.map((s) => s.role),
                ["schema_user", "role_user", "data_user", "hanzo_user"],
            );
        });

        it("refuses Kubernetes system namespaces and default for the server and for a service's Secret", () => {
            assert.deepStrictEqual(
                problems({
                    ...withServices({ name: "iam", namespace: "kube-public" }, { name: "kms", namespace: "default" }),
                    namespace: "kube-system",
                }),
                [
                    `hanzo-sql:namespace = "kube-system": is a Kubernetes system namespace (the "kube-" prefix is reserved for Kubernetes); use a namespace of your own, e.g. hanzo`,
                    `hanzo-sql:services[0].namespace = "kube-public": is a Kubernetes system namespace (the "kube-" prefix is reserved for Kubernetes); use a namespace of your own, e.g. hanzo`,
                    `hanzo-sql:services[1].namespace = "default": is where every object applied without a namespace lands, and the server admits every pod of its namespace; use a namespace of your own, e.g. hanzo`,
                ],
            );
            assert.deepStrictEqual(problems({ ...VALID, namespace: "default" }), [
                `hanzo-sql:namespace = "default": is where every object applied without a namespace lands, and the server admits every pod of its namespace; use a namespace of your own, e.g. hanzo`,
            ]);
            assert.strictEqual(load({ ...VALID, namespace: "kubeflow-db" }).namespace, "kubeflow-db");
        });
    });

    describe("endpoints", () => {
        const S3 = "must be an http(s) URL of an S3 API, e.g. http://minio.minio.svc:9000";
        const LINK = "is a link-local address (169.254.0.0/16, fe80::/10: the droplet metadata service, which hands out credentials)";
        const LOOP = "is a loopback address: from a pod it reaches the pod itself, not the service";
        const keys = { backupAccessKeyId: "id", backupSecretAccessKey: "key" };
        const secret = { secret: ["hanzo-sql:backupAccessKeyId", "hanzo-sql:backupSecretAccessKey"] };
        for (const [endpoint, why] of [
            ["http://169.254.169.254", LINK],
            ["http://169.254.169.254:80", LINK],
            ["http://2852039166", LINK], // 169.254.169.254 as one number, which URL parsers (and curl) read as the address
            ["http://0xa9fea9fe:9000", LINK],
            ["http://[fe80::1]:9000", LINK],
            ["http://[::ffff:169.254.169.254]", LINK],
            ["http://127.0.0.1:9000", LOOP],
            ["http://127.1:9000", LOOP],
            ["http://localhost:9000", LOOP],
            ["http://minio.localhost:9000", LOOP],
            ["http://[::1]:9000", LOOP],
            ["http://0.0.0.0:9000", LOOP],
        ]) {
            it(`refuses backupEndpoint ${endpoint}`, () => {
                assert.deepStrictEqual(problems({ ...VALID, ...keys, backupEndpoint: endpoint }, secret), [
                    `hanzo-sql:backupEndpoint = ${JSON.stringify(endpoint)}: ${S3} (its host ${why})`,
                ]);
            });
        }

        it("refuses a KMS API on the metadata address, and an admin host on link-local (loopback is the port-forward, allowed)", () => {
            assert.deepStrictEqual(problems({ ...VALID, kmsHostApi: "https://169.254.169.254/api", adminHost: "169.254.169.254" }), [
                `hanzo-sql:adminHost = "169.254.169.254": ${LINK}; use 127.0.0.1 (kubectl port-forward) or the server's in-cluster name`,
                `hanzo-sql:kmsHostApi = "https://169.254.169.254/api": must be an http(s) URL such as https://kms.hanzo.ai/api (its host ${LINK})`,
            ]);
            assert.deepStrictEqual(problems({ ...VALID, adminHost: "[fe80::1]" }), [
                `hanzo-sql:adminHost = "[fe80::1]": ${LINK}; use 127.0.0.1 (kubectl port-forward) or the server's in-cluster name`,
            ]);
            const spec = load({ ...VALID, ...keys, adminHost: "127.0.0.1", backupEndpoint: "http://minio.minio.svc:9000" }, secret);
            assert.strictEqual(spec.admin.host, "127.0.0.1");
        });
    });

    describe("secrets in messages", () => {
        const SECRET = "S3cr3t-value-never-shown";
        it("hides a value set with --secret that fails to decode, whatever the key's type", () => {
            const lines = problems(
                {
                    ...VALID,
                    adminPort: `5432${SECRET}`,
                    backupEnabled: `yes-${SECRET}`,
                    poolReplicas: SECRET,
                    extensionVersions: `{${SECRET}`,
                },
                { secret: ["hanzo-sql:adminPort", "hanzo-sql:backupEnabled", "hanzo-sql:poolReplicas", "hanzo-sql:extensionVersions"] },
            );
            assert.deepStrictEqual(lines, [
                'hanzo-sql:extensionVersions = "[secret]": must be a YAML structure',
                'hanzo-sql:adminPort = "[secret]": must be a whole number',
                'hanzo-sql:backupEnabled = "[secret]": must be true or false',
                'hanzo-sql:poolReplicas = "[secret]": must be a whole number',
            ]);
        });

        it("hides the services list set with --secret when it is not YAML, and shows a plain one as given", () => {
            assert.deepStrictEqual(problems({ ...VALID, services: `[${SECRET}` }, { secret: ["hanzo-sql:services"] }), [
                'hanzo-sql:services = "[secret]": must be a YAML list',
            ]);
            assert.deepStrictEqual(problems({ ...VALID, adminPort: "54x" }), ['hanzo-sql:adminPort = "54x": must be a whole number']);
        });
    });

    describe("YAML that expands without bound", () => {
        let dir: string;
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "yaml-bomb-"));
            fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        it("refuses a billion-laughs stack file (9^9 values through nine levels of aliases) as soon as it passes the bound", () => {
            const levels = "abcdefghi".split("");
            const lines = ["config:", '  hanzo-sql:a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
            for (let i = 1; i < levels.length; i++) {
                lines.push(
                    `  hanzo-sql:${levels[i]}: &${levels[i]} [${Array(9)
                        .fill(`*${levels[i - 1]}`)
                        .join(", ")}]`,
                );
            }
            fs.writeFileSync(path.join(dir, "Pulumi.bomb.yaml"), lines.join("\n") + "\n");
            assert.throws(() => stackConfig("bomb", undefined, dir), {
                message: `Pulumi.bomb.yaml expands to more than ${MAX_YAML_VALUES} values (YAML aliases such as *a repeat what &a anchors); refused: write the values out, without nested aliases`,
            });
        });

        it("reads a stack file with a few aliases as the engine would", () => {
            fs.writeFileSync(
                path.join(dir, "Pulumi.anchors.yaml"),
                [
                    "config:",
                    "  hanzo-sql:environment: prod",
                    "  hanzo-sql:clusterName: &c hanzo-k8s",
                    "  hanzo-sql:services: &s [iam, kms]",
                    "  hanzo-sql:legacyDatabases: *s",
                    "",
                ].join("\n"),
            );
            const cfg = stackConfig("anchors", undefined, dir);
            assert.strictEqual(cfg.config["hanzo-sql:legacyDatabases"], '["iam","kms"]');
            // The object, the list, 1, 2, [3] and 3: six values.
            assert.strictEqual(expandsBeyond({ a: [1, 2, [3]] }, 5), true);
            assert.strictEqual(expandsBeyond({ a: [1, 2, [3]] }, 6), false);
        });
    });
});
