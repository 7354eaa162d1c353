/**
 * Reads a stack's configuration the way the Pulumi engine hands it to the program: the stack file's
 * `config:` values, with the project's declared defaults (Pulumi.yaml) applied, structured values as JSON
 * strings, and `secure:` values marked secret (and replaced by a placeholder: the plan never decrypts).
 */
import * as fs from "fs";
import * as path from "path";
import { loadStackSpec } from "../../stacks/load";
import type { StackSpec } from "../../stacks/spec";
import { readYamlFile } from "./yamlFile";

export interface StackConfig {
    readonly stack: string;
    /** Fully qualified key → the string the engine would pass. */
    readonly config: Record<string, string>;
    /** Keys whose value is a secret. */
    readonly secretKeys: string[];
}

/** The repository root: the nearest folder above this file with a Pulumi.yaml (from source or from build/). */
export const PROJECT_DIR = findProjectDir(__dirname);

function findProjectDir(from: string): string {
    for (let dir = from; ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
            return dir;
        }
        if (path.dirname(dir) === dir) {
            throw new Error(`no Pulumi.yaml above ${from}`);
        }
    }
}

interface ProjectFile {
    name: string;
    config?: Record<string, { default?: unknown } | string | number | boolean>;
}

export function readProject(dir = PROJECT_DIR): ProjectFile {
    return readYamlFile(path.join(dir, "Pulumi.yaml")) as ProjectFile;
}

/** Stacks that have a Pulumi.<stack>.yaml in the project. */
export function listStacks(dir = PROJECT_DIR): string[] {
    return fs
        .readdirSync(dir)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

function encode(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}

function qualify(project: string, key: string): string {
    return key.includes(":") ? key : `${project}:${key}`;
}

/** The configuration of a stack from its file, or from a config map given directly (tests). */
export function stackConfig(stack: string, values?: Record<string, unknown>, dir = PROJECT_DIR): StackConfig {
    const project = readProject(dir);
    let fileConfig = values;
    if (fileConfig === undefined) {
        const file = path.join(dir, `Pulumi.${stack}.yaml`);
        if (!fs.existsSync(file)) {
            throw new Error(`no stack file ${path.basename(file)}; stacks here: ${listStacks(dir).join(", ")}`);
        }
        fileConfig = (readYamlFile(file) as { config?: Record<string, unknown> } | null)?.config ?? {};
    }
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, decl] of Object.entries(project.config ?? {})) {
        if (typeof decl === "object" && decl !== null && "default" in decl && decl.default !== undefined) {
            config[qualify(project.name, key)] = encode(decl.default);
        }
    }
    for (const [rawKey, value] of Object.entries(fileConfig)) {
        const key = qualify(project.name, rawKey);
        if (typeof value === "object" && value !== null && "secure" in value) {
            config[key] = `plan-placeholder-for-${key}`;
            secretKeys.push(key);
        } else {
            config[key] = encode(value);
        }
    }
    return { stack, config, secretKeys };
}

/**
 * The validated spec of a stack's configuration, without running the program (the live verifier needs the
 * spec, not resources). `env` is where a DigitalOcean token would come from.
 */
export function specOf(
    cfg: StackConfig,
    env: Readonly<Record<string, string | undefined>> = {
        DIGITALOCEAN_TOKEN: "not-needed",
        SPACES_ACCESS_KEY_ID: "not-needed",
        SPACES_SECRET_ACCESS_KEY: "not-needed",
    },
): StackSpec {
    return loadStackSpec({
        stack: cfg.stack,
        get: (k) => cfg.config[k],
        isSecret: (k) => cfg.secretKeys.includes(k),
        keys: () => Object.keys(cfg.config),
        env,
    });
}
