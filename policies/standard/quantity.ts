/**
 * Parsing of Kubernetes resource quantities ("500m", "2Gi", "50Gi", "1.5") into numbers, so that a typo
 * fails `pulumi preview` instead of the Kubernetes API server rejecting the object mid-update.
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;

/** The value of a Kubernetes quantity in base units (bytes, cores), or undefined when it does not parse. */
export function parseQuantity(text: string): number | undefined {
    const m = QUANTITY.exec(text.trim() === text ? text : "");
    if (!m) {
        return undefined;
    }
    const suffix = m[2] ?? "";
    const factor = BINARY[suffix] ?? DECIMAL[suffix];
    return Number(m[1]) * factor;
}

/** Formats bytes as the largest binary unit that represents them exactly ("2Gi", "512Mi"). */
export function formatBytes(bytes: number): string {
    for (const unit of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]) {
        if (bytes >= BINARY[unit] && bytes % BINARY[unit] === 0) {
            return `${bytes / BINARY[unit]}${unit}`;
        }
    }
    return `${bytes}`;
}
