/** promtool (Debian's prometheus package) over rendered rules: `check rules` and unit tests of alerts. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import type { AlertRule, RuleGroup } from "../../render/alerts";

export const PROMTOOL = "/usr/bin/promtool";

export interface AlertTest {
    /** Series in promtool's notation: `metric{labels}` → `values`. */
    readonly series: Record<string, string>;
    /** At each evaluation time, the alerts (by their labels) expected to fire, for one alert name. */
    readonly expect: { readonly at: string; readonly alert: string; readonly firing: Record<string, string>[] }[];
}

/** Expands `{{ $labels.x }}` as Prometheus does, for the expected annotations. */
function expand(text: string, labels: Record<string, string>): string {
    return text.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, k) => labels[k] ?? "");
}

function run(args: string[], cwd: string) {
    const r = spawnSync(PROMTOOL, args, { cwd, encoding: "utf8" });
    return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** `promtool check rules` over a rule file of these groups. */
export function checkRules(groups: RuleGroup[]): { status: number; out: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promtool-"));
    fs.writeFileSync(path.join(dir, "rules.yaml"), yaml.dump({ groups }));
    const r = run(["check", "rules", "rules.yaml"], dir);
    fs.rmSync(dir, { recursive: true });
    return r;
}

/** `promtool test rules` with these cases; the expected alerts carry the rule's labels and annotations. */
export function testRules(groups: RuleGroup[], cases: AlertTest[]): { status: number; out: string } {
    const rules = new Map<string, AlertRule>(groups.flatMap((g) => g.rules.map((r) => [r.alert, r] as [string, AlertRule])));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promtool-"));
    fs.writeFileSync(path.join(dir, "rules.yaml"), yaml.dump({ groups }));
    const tests = cases.map((c) => ({
        interval: "1m",
        input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: c.expect.map((e) => {
            const rule = rules.get(e.alert);
            if (!rule) {
                throw new Error(`no rule ${e.alert}`);
            }
            return {
                eval_time: e.at,
                alertname: e.alert,
                exp_alerts: e.firing.map((labels) => ({
                    exp_labels: { ...labels, ...rule.labels },
                    exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v, labels)])),
                })),
            };
        }),
    }));
    fs.writeFileSync(path.join(dir, "tests.yaml"), yaml.dump({ rule_files: ["rules.yaml"], evaluation_interval: "1m", tests }));
    const r = run(["test", "rules", "tests.yaml"], dir);
    fs.rmSync(dir, { recursive: true });
    return r;
}
