import { createHash } from "crypto";

/** SHA-256 over the files' names and contents, independent of their order. */
export function configChecksum(files: Readonly<Record<string, string>>): string {
    const hash = createHash("sha256");
    for (const name of Object.keys(files).sort()) {
        hash.update(`${name}\0${files[name]}\0`);
    }
    return hash.digest("hex");
}

/** Pod template annotation whose change rolls the pods when the rendered configuration changes. */
export const CONFIG_CHECKSUM_ANNOTATION = "hanzo.ai/config-checksum";
