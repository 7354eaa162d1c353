/**
 * postgresql.conf rendered from the standard's settings for a pod's memory limit (policies/standard/settings.ts);
 * policies/standard/postgresqlConf.ts parses it back.
 */
import { Setting, serverSettings } from "../policies/standard/settings";

/** The postgresql.conf text for a pod with this memory limit. */
export function renderPostgresqlConf(memoryLimitBytes: number, settings: Setting[] = serverSettings(memoryLimitBytes)): string {
    const lines = [
        "# postgresql.conf rendered by hanzo-sql from the Hanzo SQL standard (HIP-29 §Configuration).",
        "# Edit the stack configuration, not this file: a change here is overwritten and rolls the pod.",
        "",
    ];
    const width = Math.max(...settings.map((s) => `${s.name} = ${s.value}`.length));
    for (const s of settings) {
        lines.push(`${`${s.name} = ${s.value}`.padEnd(width)}  # ${s.why}`);
    }
    return lines.join("\n") + "\n";
}
