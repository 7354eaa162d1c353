/**
 * Everything derived from the one configuration schema (stacks/schema.ts) is in step with it: the stack-file
 * JSON Schema (checked by a real validator, ajv, against every committed stack file and broken ones),
 * Pulumi.yaml's config block, the README's tables; and no secret value ever reaches a problem message.
 */
import * as assert from "assert";
import Ajv2020 from "ajv/dist/2020";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { CONFIG_KEYS } from "../../stacks/configKeys";
import { SCHEMA_FILE, TABLE_MARKERS, configTable, pulumiYamlConfig, schemaText, serviceTable } from "../../cli/configSchema";
import { PROJECT_DIR, listStacks, readProject } from "../../cli/plan/stackFile";
import { VALID, problems, withServices } from "../support/config";

const read = (file: string) => fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");

describe("the stack-file JSON Schema", () => {
    const schema = JSON.parse(read(SCHEMA_FILE));
    const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
    /** ajv's errors for a stack file, as "instancePath keyword" lines (anyOf branches left out). */
    const errors = (file: unknown): string[] => {
        validate(file);
        return (validate.errors ?? [])
            .filter((e) => e.keyword !== "anyOf")
            .map((e) => `${e.instancePath} ${e.keyword}${e.params.additionalProperty ? ` ${e.params.additionalProperty}` : ""}`);
    };
    const stack = (config: Record<string, unknown>) => ({
        config: { "hanzo-sql:environment": "prod", "hanzo-sql:clusterName": "c", "hanzo-sql:services": ["iam"], ...config },
    });

    it("is the committed file, and what npm run -s config-schema prints", () => {
        assert.strictEqual(read(SCHEMA_FILE), schemaText(), "stale: run npm run -s config-schema -- --write");
        const printed = execFileSync(process.execPath, [path.join(PROJECT_DIR, "build", "cli", "configSchema.js")], { encoding: "utf8" });
        assert.strictEqual(printed, schemaText());
    });

    it("accepts every committed stack file, each of which points editors at it", () => {
        assert.deepStrictEqual(listStacks(), ["dev", "hanzo-k8s", "lux-k8s", "staging", "test"]);
        for (const name of listStacks()) {
            const text = read(`Pulumi.${name}.yaml`);
            assert.strictEqual(text.split("\n")[0], "# yaml-language-server: $schema=./stacks/stack-file.schema.json", name);
            assert.deepStrictEqual(errors(yaml.load(text)), [], name);
        }
    });

    it("accepts other namespaces' keys and secrets in the secure form", () => {
        assert.deepStrictEqual(
            errors(
                stack({
                    "digitalocean:token": { secure: "AAABAx" },
                    "kubernetes:context": "kind",
                    "hanzo-sql:adminPassword": { secure: "AAAB" },
                }),
            ),
            [],
        );
    });

    it("rejects broken stack files, naming the key", () => {
        for (const [config, expected] of [
            [{ "hanzo-sql:serivces": [] }, [`/config additionalProperties hanzo-sql:serivces`]],
            [{ "hanzo-sql:environment": "production" }, ["/config/hanzo-sql:environment enum", "/config/hanzo-sql:environment type"]],
            [{ "hanzo-sql:poolReplicas": "two" }, ["/config/hanzo-sql:poolReplicas type", "/config/hanzo-sql:poolReplicas type"]],
            [
                { "hanzo-sql:terminationGracePeriodSeconds": 10 },
                ["/config/hanzo-sql:terminationGracePeriodSeconds minimum", "/config/hanzo-sql:terminationGracePeriodSeconds type"],
            ],
            [{ "hanzo-sql:backupEnabled": "yes" }, ["/config/hanzo-sql:backupEnabled type", "/config/hanzo-sql:backupEnabled type"]],
            [{ "hanzo-sql:adminPassword": "in-plain-text-0123456789" }, ["/config/hanzo-sql:adminPassword type"]],
            [
                { "hanzo-sql:services": [{ name: "iam", conection: "beego" }] },
                [
                    "/config/hanzo-sql:services/0 type",
                    "/config/hanzo-sql:services/0 additionalProperties conection",
                    "/config/hanzo-sql:services type",
                ],
            ],
            [{ "hanzo-sql:services": [] }, ["/config/hanzo-sql:services minItems", "/config/hanzo-sql:services type"]],
        ] as const) {
            assert.deepStrictEqual(errors(stack(config)), expected, JSON.stringify(config));
        }
        assert.deepStrictEqual(errors({ config: { "hanzo-sql:clusterName": "c" } }), ["/config required", "/config required"]);
        assert.deepStrictEqual(
            validate.errors?.map((e) => e.params.missingProperty),
            ["hanzo-sql:environment", "hanzo-sql:services"],
        );
    });
});

describe("Pulumi.yaml's config block", () => {
    it("is generated from the schema: every key with a default, its type, default and description", () => {
        assert.deepStrictEqual(readProject().config, pulumiYamlConfig(), "stale: run npm run -s config-schema -- --write");
    });
    it("declares no secret and no key without a default (Pulumi would require it in every stack)", () => {
        const declared = Object.keys(readProject().config ?? {});
        assert.deepStrictEqual(
            declared.filter((k) => CONFIG_KEYS[k].secret || CONFIG_KEYS[k].default === undefined),
            [],
        );
        assert.deepStrictEqual(
            Object.keys(CONFIG_KEYS).filter((k) => CONFIG_KEYS[k].secret),
            ["adminPassword", "backupAccessKeyId", "backupSecretAccessKey"],
        );
    });
});

describe("README configuration tables", () => {
    const readme = read("README.md");
    const between = ([open, close]: readonly [string, string]) =>
        readme.slice(readme.indexOf(open) + open.length + 1, readme.indexOf(close) - 1);
    it("are the ones generated from the schema", () => {
        assert.strictEqual(between(TABLE_MARKERS.config), configTable(), "stale: run npm run -s config-schema -- --write");
        assert.strictEqual(between(TABLE_MARKERS.service), serviceTable(), "stale: run npm run -s config-schema -- --write");
    });
    it("have one row per key with its default", () => {
        const rows = configTable().split("\n").slice(2);
        assert.strictEqual(rows.length, Object.keys(CONFIG_KEYS).length);
        assert.ok(
            rows.includes(
                "| `backupSchedule` | `0 */6 * * *` | cron schedule of the backups (Kubernetes' five-field cron; at most 7 days between runs) |",
            ),
            rows.join("\n"),
        );
        assert.ok(rows.includes("| `adminPassword` | none | superuser password; generated when unset (secret) |"), rows.join("\n"));
        assert.ok(rows.includes("| `services` | required | the services: one entry (a name, or an object) per service |"), rows.join("\n"));
    });
});

describe("secret values in problem messages", () => {
    const SECRET = "s3cr3t-VALUE-do-not-print";
    it("never shows a secret key's value, whatever rule it breaks", () => {
        // Too short, as a secret; in plain text; the wrong YAML type.
        const lines = [
            ...problems({ ...VALID, adminPassword: "tiny-" + "x" }, { secret: ["hanzo-sql:adminPassword"] }),
            ...problems({ ...VALID, adminPassword: SECRET }),
            ...problems({
                ...VALID,
                backupEndpoint: "http://minio:9000",
                backupAccessKeyId: SECRET,
                backupSecretAccessKey: { nested: SECRET },
            }),
        ];
        assert.deepStrictEqual(lines, [
            'hanzo-sql:adminPassword = "[secret]": must be at least 16 characters',
            'hanzo-sql:adminPassword = "[redacted]": is stored in plain text; set it with pulumi config set --secret adminPassword',
            'hanzo-sql:backupAccessKeyId = "[redacted]": is stored in plain text; set it with pulumi config set --secret backupAccessKeyId',
            'hanzo-sql:backupSecretAccessKey = "[redacted]": is stored in plain text; set it with pulumi config set --secret backupSecretAccessKey',
        ]);
    });
    it("never shows a value set with --secret, even of a key that is not secret, nor of an unknown key", () => {
        const lines = problems(
            { ...VALID, namespace: `Bad_${SECRET}`, kmsHostApi: `https://${SECRET}@kms`, namespce: SECRET },
            { secret: ["hanzo-sql:namespace", "hanzo-sql:kmsHostApi", "hanzo-sql:namespce"] },
        );
        lines.push(
            ...problems(withServices({ name: "iam", conection: SECRET }, { name: "db", database: SECRET }), {
                secret: ["hanzo-sql:services"],
            }),
        );
        assert.strictEqual(lines.length, 5, lines.join("\n"));
        assert.ok(
            lines.every((l) => !l.includes(SECRET) && l.includes('= "[secret]"')),
            lines.join("\n"),
        );
    });
});
