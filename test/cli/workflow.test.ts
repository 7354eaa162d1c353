import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { listStacks, PROJECT_DIR, specOf, stackConfig } from "../../cli/plan/stackFile";

const WORKFLOW = path.join(PROJECT_DIR, ".github", "workflows", "policy.yml");
const VALIDATOR = path.join(PROJECT_DIR, "node_modules", "@action-validator", "cli", "cli.mjs");

function validate(file: string) {
    return spawnSync(process.execPath, [VALIDATOR, file], { encoding: "utf8" });
}

describe(".github/workflows/policy.yml", () => {
    const workflow = yaml.load(fs.readFileSync(WORKFLOW, "utf8")) as any;

    it("is a valid workflow by GitHub's schema (@action-validator/cli), which rejects a broken one", () => {
        const ok = validate(WORKFLOW);
        assert.strictEqual(ok.status, 0, ok.stdout + ok.stderr);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "workflow-"));
        const broken = structuredClone(workflow);
        broken.jobs.gate.steps[0].with = 3;
        fs.writeFileSync(path.join(dir, "broken.yml"), yaml.dump(broken));
        const bad = validate(path.join(dir, "broken.yml"));
        assert.strictEqual(bad.status, 1);
        assert.match(bad.stdout + bad.stderr, /"path": "\/jobs\/gate\/steps\/0\/with"/);
        fs.rmSync(dir, { recursive: true });
    });

    it("gates every stack through the pack's analyzer, as an update and as a first preview", () => {
        assert.deepStrictEqual([...workflow.jobs.gate.strategy.matrix.stack].sort(), listStacks());
        const runs = workflow.jobs.gate.steps.map((s: any) => s.run).filter(Boolean);
        assert.deepStrictEqual(runs, [
            "npm ci --no-audit --no-fund && npm ci --no-audit --no-fund --prefix policies",
            "npm run plan -- --stack ${{ matrix.stack }} --policy",
            "npm run plan -- --stack ${{ matrix.stack }} --policy --preview",
        ]);
    });

    it("previews every DOKS stack with the pack and every credential the program needs for it", () => {
        const preview = workflow.jobs.preview;
        const doks = listStacks().filter(
            (s) =>
                specOf(stackConfig(s), { DIGITALOCEAN_TOKEN: "x", SPACES_ACCESS_KEY_ID: "x", SPACES_SECRET_ACCESS_KEY: "x" }).cluster
                    .kind === "doks",
        );
        assert.deepStrictEqual([...preview.strategy.matrix.stack].sort(), doks);
        const action = preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        assert.deepStrictEqual(
            [action.with.command, action.with["stack-name"], action.with.policyPacks],
            ["preview", "${{ matrix.stack }}", "policies"],
        );
        const env = Object.keys(preview.env);
        assert.deepStrictEqual(env, ["PULUMI_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN", "SPACES_ACCESS_KEY_ID", "SPACES_SECRET_ACCESS_KEY"]);
        for (const key of env) {
            assert.strictEqual(preview.env[key], `\${{ secrets.${key} }}`);
        }
        // The program's own loader: with the workflow's credentials every stack loads; each credential is one
        // that some stack refuses to load without (production stacks create their backup bucket on Spaces).
        const given = Object.fromEntries(env.map((k) => [k, "from-secrets"]));
        const needs = (stack: string, key: string) => {
            const { [key]: _, ...without } = given;
            try {
                specOf(stackConfig(stack), without);
                return false;
            } catch (e) {
                assert.match((e as Error).message, new RegExp(key));
                return true;
            }
        };
        for (const stack of doks) {
            assert.doesNotThrow(() => specOf(stackConfig(stack), given), stack);
        }
        for (const key of env.filter((k) => k !== "PULUMI_ACCESS_TOKEN")) {
            assert.ok(
                doks.some((stack) => needs(stack, key)),
                `no stack needs ${key}`,
            );
        }
        assert.ok(
            needs("hanzo-k8s", "SPACES_SECRET_ACCESS_KEY") &&
                needs("lux-k8s", "SPACES_ACCESS_KEY_ID") &&
                needs("lux-k8s", "DIGITALOCEAN_TOKEN"),
        );
    });
});
