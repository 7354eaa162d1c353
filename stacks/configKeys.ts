/**
 * What is derived from the schema for the outside: each key as Pulumi.yaml declares it, the README documents
 * it and the stack files' JSON Schema checks it (cli/configSchema.ts writes them; test/stacks/schema.test.ts
 * checks they are current).
 */
import { z } from "zod";
import { SHAPE, CONFIG_KEY_NAMES } from "./schema";
import { SERVICE } from "./serviceFields";
import { KEY_META } from "./zodHelpers";

/** A key as Pulumi.yaml declares it and the README documents it: all derived from the schema. */
export interface ConfigKey {
    /** Pulumi's config type: how the engine's string is decoded. */
    readonly type: "string" | "integer" | "boolean" | "array" | "object";
    readonly description: string;
    readonly default?: unknown;
    readonly secret?: boolean;
    /** A stack must set it (no default, not optional). */
    readonly required: boolean;
    /** The key's JSON Schema (the value a stack file gives). */
    readonly jsonSchema: Record<string, unknown>;
}

/** The JSON Schema of a value, descriptions from KEY_META; what JSON Schema cannot say (the rules) stays in zod. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
    const { $schema: _draft, ...json } = z.toJSONSchema(schema, {
        io: "input",
        metadata: KEY_META,
        unrepresentable: "any",
        override: ({ zodSchema, jsonSchema }) => {
            // Secret-ness is the stack file's `secure:` form, not a JSON Schema keyword.
            delete (jsonSchema as Record<string, unknown>).secret;
            // A service entry may be just its name: zod's preprocess, which JSON Schema cannot see.
            if (zodSchema === SERVICE) {
                const object = { ...jsonSchema };
                Object.keys(jsonSchema).forEach((k) => delete (jsonSchema as Record<string, unknown>)[k]);
                jsonSchema.anyOf = [{ type: "string", description: "the service's name alone" }, object];
            }
        },
    }) as Record<string, unknown>;
    return json;
}

/** Every key of the namespace, in the schema's order. */
export const CONFIG_KEYS: Readonly<Record<string, ConfigKey>> = Object.fromEntries(
    CONFIG_KEY_NAMES.map((name) => {
        const json = jsonSchemaOf(SHAPE[name]);
        const meta = KEY_META.get(SHAPE[name]);
        if (meta === undefined) {
            throw new Error(`stacks/schema.ts: key ${name} has no description`);
        }
        const decl: ConfigKey = {
            type: json.type as ConfigKey["type"],
            description: meta.description,
            ...(json.default !== undefined ? { default: json.default } : {}),
            jsonSchema: json,
            required: !SHAPE[name].safeParse(undefined).success,
            ...(meta.secret ? { secret: true } : {}),
        };
        return [name, decl];
    }),
);
