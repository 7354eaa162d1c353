/**
 * The part of Kubernetes' structural-schema validation a custom resource meets on its way into the API
 * server: `type`, `required`, `properties` (an unknown field is an error: strict field validation, kubectl's
 * default since 1.27, rejects it; the API server would otherwise drop it silently), `additionalProperties`,
 * `items`, `minItems`/`maxItems`, `enum`, `pattern`, `minimum`, and `x-kubernetes-preserve-unknown-fields`.
 */
export interface OpenApiSchema {
    readonly type?: "object" | "string" | "integer" | "number" | "boolean" | "array";
    readonly properties?: Readonly<Record<string, OpenApiSchema>>;
    readonly required?: readonly string[];
    readonly additionalProperties?: OpenApiSchema | boolean;
    readonly items?: OpenApiSchema;
    readonly minItems?: number;
    readonly maxItems?: number;
    readonly enum?: readonly unknown[];
    readonly pattern?: string;
    readonly minimum?: number;
    readonly "x-kubernetes-preserve-unknown-fields"?: boolean;
    readonly [other: string]: unknown;
}

function typeOf(v: unknown): string {
    if (Array.isArray(v)) {
        return "array";
    }
    if (typeof v === "number") {
        return Number.isInteger(v) ? "integer" : "number";
    }
    return v === null ? "null" : typeof v;
}

/** Every problem of `value` against `schema`, as `<path>: <problem>`; [] when it validates. */
export function openApiProblems(schema: OpenApiSchema, value: unknown, path = ""): string[] {
    const at = path || "/";
    const actual = typeOf(value);
    if (schema.type !== undefined && actual !== schema.type && !(schema.type === "number" && actual === "integer")) {
        return [`${at}: must be ${schema.type}, is ${actual}`];
    }
    const problems: string[] = [];
    if (schema.enum && !schema.enum.includes(value)) {
        problems.push(`${at}: must be one of ${schema.enum.map((x) => JSON.stringify(x)).join(", ")}`);
    }
    if (schema.pattern !== undefined && typeof value === "string" && !new RegExp(schema.pattern).test(value)) {
        problems.push(`${at}: must match ${schema.pattern}`);
    }
    if (schema.minimum !== undefined && typeof value === "number" && value < schema.minimum) {
        problems.push(`${at}: must be at least ${schema.minimum}`);
    }
    if (Array.isArray(value)) {
        if (schema.minItems !== undefined && value.length < schema.minItems) {
            problems.push(`${at}: must have at least ${schema.minItems} items`);
        }
        if (schema.maxItems !== undefined && value.length > schema.maxItems) {
            problems.push(`${at}: must have at most ${schema.maxItems} items`);
        }
        if (schema.items) {
            value.forEach((x, i) => problems.push(...openApiProblems(schema.items!, x, `${path}/${i}`)));
        }
    } else if (actual === "object") {
        const obj = value as Record<string, unknown>;
        for (const key of schema.required ?? []) {
            if (obj[key] === undefined) {
                problems.push(`${path}/${key}: required`);
            }
        }
        for (const [key, v] of Object.entries(obj)) {
            const sub = schema.properties?.[key];
            if (sub) {
                problems.push(...openApiProblems(sub, v, `${path}/${key}`));
            } else if (typeof schema.additionalProperties === "object") {
                problems.push(...openApiProblems(schema.additionalProperties, v, `${path}/${key}`));
            } else if (schema.properties && !schema.additionalProperties && !schema["x-kubernetes-preserve-unknown-fields"]) {
                problems.push(`${path}/${key}: unknown field`);
            }
        }
    }
    return problems;
}
