import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { listStacks, PROJECT_DIR, specOf, stackConfig } from "../../cli/plan/stackFile";
import { REQUIRED_PULUMI_VERSION } from "../../components/cliVersion";

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

    it("pins a Pulumi CLI that Pulumi.yaml's requiredPulumiVersion admits: the release of the SDK the program runs on", () => {
        const project = yaml.load(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8")) as any;
        assert.strictEqual(project.requiredPulumiVersion, REQUIRED_PULUMI_VERSION);
        const action = workflow.jobs.preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        const pinned = action.with["pulumi-version"];
        const sdk = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];
        assert.strictEqual(pinned, sdk);
        // The range is one lower bound (blang/semver's `>=x.y.z`, as ValidatePulumiVersionRange parses it).
        const bound = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(REQUIRED_PULUMI_VERSION)!.slice(1).map(Number);
        const version = /^(\d+)\.(\d+)\.(\d+)$/.exec(pinned)!.slice(1).map(Number);
        const cmp = version.map((v, i) => Math.sign(v - bound[i])).find((d) => d !== 0) ?? 0;
        assert.ok(cmp >= 0, `${pinned} does not satisfy ${REQUIRED_PULUMI_VERSION}`);
        // 3.174.0 imports then updates (adoption); 3.219.0 is the first CLI that reads the key: the bound is no lower.
        assert.deepStrictEqual(bound, [3, 219, 0]);
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
