/**
 * The day-2 procedures of docs/operations.md whose steps are configuration changes, run as written: each
 * `pulumi config set` of the section (or the stack-file entry it gives) applied, in order, to hanzo-k8s's stack
 * file, then the plan `pulumi up` would apply, checked for what the docs say it does. (The restore procedure runs in test/pods/backup.test.ts,
 * the removal's SQL in test/db/serviceChanges.test.ts.)
 */
import * as assert from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { PROJECT_DIR } from "../../cli/plan/stackFile";
import { TYPES, ofType, planWith, resource } from "../support/plan";
import { codeBlocks, readDoc, section } from "../support/docs";

type Values = Record<string, unknown>;

/**
 * The `pulumi config set [--secret] [--path] <key> <value>` commands of a section, in order, as written (in a
 * shell block or a `code span`); a `--path` key is a path into the key's object.
 */
function configSets(text: string): { path: string[]; value: string }[] {
    return [...text.matchAll(/pulumi config set (--secret )?(--path )?('[^']+'|\S+) ('[^']*'|"[^"]*"|[^\s`]+)/g)].map((m) => {
        const key = m[3].replace(/^'|'$/g, "");
        return { path: m[2] ? key.split(".") : [key], value: m[4].replace(/^['"]|['"]$/g, "") };
    });
}

/** hanzo-k8s's stack file's values, as committed. */
function stackFileValues(): Values {
    return (yaml.load(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.hanzo-k8s.yaml"), "utf8")) as { config: Values }).config;
}

/** hanzo-k8s's stack file values with the given commands applied, as `pulumi config set` writes them. */
function applied(sets: { path: string[]; value: string }[]): Values {
    const values = stackFileValues();
    for (const { path: keyPath, value } of sets) {
        const [first, ...rest] = keyPath;
        const key = `hanzo-sql:${first}`;
        if (rest.length === 0) {
            values[key] = value;
        } else {
            let at = (values[key] ??= {}) as Values;
            for (const k of rest.slice(0, -1)) {
                at = (at[k] ??= {}) as Values;
            }
            at[rest[rest.length - 1]] = value;
        }
    }
    return values;
}

const OPERATIONS = readDoc("docs/operations.md");

describe("docs/operations.md: the configuration procedures, as written", () => {
    it("Grow the disk: the claim is patched to the new size and the size alert follows, then the recorded size is accepted", async () => {
        const sets = configSets(section(OPERATIONS, "Grow the disk"));
        assert.deepStrictEqual(sets, [
            { path: ["storageSizeApplied"], value: "50Gi" },
            { path: ["storageSize"], value: "100Gi" },
            { path: ["storageSizeApplied"], value: "100Gi" },
        ]);
        // The `up` between the second and the third command.
        const up = await planWith("hanzo-k8s", applied(sets.slice(0, 2)));
        const patch = resource(up, "kubernetes:core/v1:PersistentVolumeClaimPatch", "hanzo-sql-postgres-data-claim");
        assert.deepStrictEqual((patch.inputs as any).spec.resources.requests.storage, "100Gi");
        const rule = resource(up, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "hanzo-sql-monitoring-alerts");
        const tooLarge = (rule.inputs as any).spec.groups[0].rules.find((r: { alert: string }) => r.alert === "PostgresDatabaseTooLarge");
        assert.strictEqual(tooLarge.annotations.summary, "A database is larger than 80GiB");
        // After the last command, the stack still plans the same size.
        const after = await planWith("hanzo-k8s", applied(sets));
        assert.deepStrictEqual(
            (resource(after, "kubernetes:core/v1:PersistentVolumeClaimPatch", "hanzo-sql-postgres-data-claim").inputs as any).spec.resources
                .requests.storage,
            "100Gi",
        );
    });

    it("Change the image: the server runs the new image and every database's vector extension moves to its version", async () => {
        const sets = configSets(section(OPERATIONS, "Change the image (extensions follow it)"));
        assert.deepStrictEqual(sets, [
            { path: ["image"], value: "pgvector/pgvector:0.8.1-pg16" },
            { path: ["extensionVersions", "vector"], value: "0.8.1" },
        ]);
        const up = await planWith("hanzo-k8s", applied(sets));
        const sts = resource(up, TYPES.statefulSet, "hanzo-sql-postgres-statefulset");
        assert.strictEqual((sts.inputs as any).spec.template.spec.containers[0].image, "pgvector/pgvector:0.8.1-pg16");
        const vector = ofType(up, TYPES.extension).filter((e) => e.inputs.name === "vector");
        assert.deepStrictEqual(
            vector.map((e) => [e.inputs.database, e.inputs.version]),
            ["template1", "iam", "cloud", "console", "hanzo_cloud", "kms", "platform"].map((db) => [db, "0.8.1"]),
        );
    });

    it("Rename a service: the documented stack-file entry renames the stopped service's database and role in place, and its Secret is the one the docs name", async () => {
        const text = section(OPERATIONS, "Rename a service");
        const block = codeBlocks(text, "sh").join("\n");
        const stopped = /kubectl -n hanzo scale deployment\/(\S+) --replicas=0/.exec(block)?.[1];
        const name = /#.*- name: (\S+)/.exec(block)?.[1];
        const renamedFrom = /#\s+renamedFrom: (\S+)/.exec(block)?.[1];
        assert.deepStrictEqual([stopped, name, renamedFrom], ["iam", "identity", "iam"], block);
        const values = stackFileValues();
        const services = (values["hanzo-sql:services"] as Values[]).map((e) => (e.name === renamedFrom ? { ...e, name, renamedFrom } : e));
        const up = await planWith("hanzo-k8s", { ...values, "hanzo-sql:services": services });
        const db = resource(up, TYPES.database, "hanzo-sql-identity-database");
        assert.deepStrictEqual([db.inputs.name, db.inputs.owner], ["identity", "identity_user"]);
        // The service's component is aliased to the old one, so its children (role, database) keep their state.
        assert.deepStrictEqual(resource(up, "hanzo-sql:index:ServiceDatabase", "hanzo-sql-identity").options.aliases, [
            "urn:pulumi:hanzo-k8s::hanzo-sql::hanzo-sql:index:HanzoSql$hanzo-sql:index:ServiceDatabase::hanzo-sql-iam",
        ]);
        const secret = `${name}-database`;
        assert.ok(text.includes(`\`${secret}\``), `the docs point the service at ${secret}`);
        assert.deepStrictEqual(
            ofType(up, TYPES.secret)
                .map((r) => (r.inputs as any).metadata.name)
                .filter((n: string) => n === secret || n === "iam-database"),
            [secret],
        );
    });

    it("reads the commands as pulumi writes them: --secret, --path, quoted values", () => {
        assert.deepStrictEqual(configSets("`pulumi config set --secret adminPassword \"$(x)\"` and `pulumi config set --path 'a.b' 1`"), [
            { path: ["adminPassword"], value: "$(x)" },
            { path: ["a", "b"], value: "1" },
        ]);
    });
});
