/** pg_hba.conf rendered from the standard's rules (policies/standard/pgHba.ts, which parses it back). */
import type { HbaRule } from "../policies/standard/pgHba";

/** The pg_hba.conf text of these rules. */
export function renderPgHba(rules: readonly HbaRule[]): string {
    const lines = [
        "# pg_hba.conf rendered by hanzo-sql from the Hanzo SQL standard (HIP-29 §Security); first match wins.",
        "# TYPE  DATABASE  USER  ADDRESS  METHOD",
    ];
    for (const r of rules) {
        if (r.why) {
            lines.push(`# ${r.why}`);
        }
        lines.push([r.type, r.database, r.user, ...(r.address ? [r.address] : []), r.method].join("  "));
    }
    return lines.join("\n") + "\n";
}
