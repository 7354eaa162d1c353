/**
 * YAML the CLIs read (Pulumi.yaml, Pulumi.<stack>.yaml), refused when it expands without bound. js-yaml resolves
 * an alias (`*a`) to the same object as its anchor, so a "billion laughs" file parses in microseconds; whatever
 * walks the result afterwards (JSON.stringify of a structured config value, the schema) visits every alias
 * again and never finishes. The Pulumi CLI reads the same files with go-yaml v3 (pulumi/pulumi
 * sdk/go/common/encoding/marshal.go), which refuses excessive aliasing itself ("document contains excessive
 * aliasing", yaml.v3 decode.go `allowedAliasRatio`); this does the same here, by counting the values the
 * document expands to, stopping at the bound.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";

/** More values than any stack file needs (the largest here has a few hundred) and few enough to count in milliseconds. */
export const MAX_YAML_VALUES = 100_000;

/** Does a value expand (aliases followed) to more than `limit` values? Stops counting at the limit. */
export function expandsBeyond(value: unknown, limit: number): boolean {
    let count = 0;
    const stack: unknown[] = [value];
    while (stack.length > 0) {
        const v = stack.pop();
        if (++count > limit) {
            return true;
        }
        if (Array.isArray(v)) {
            stack.push(...v);
        } else if (typeof v === "object" && v !== null) {
            stack.push(...Object.values(v));
        }
    }
    return false;
}

/** Reads a YAML file, refusing one that expands beyond MAX_YAML_VALUES values. */
export function readYamlFile(file: string): unknown {
    const value = yaml.load(fs.readFileSync(file, "utf8"));
    if (expandsBeyond(value, MAX_YAML_VALUES)) {
        throw new Error(
            `${path.basename(file)} expands to more than ${MAX_YAML_VALUES} values (YAML aliases such as *a repeat what &a anchors); refused: write the values out, without nested aliases`,
        );
    }
    return value;
}
