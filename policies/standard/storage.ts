/** The data volume of the standard (STANDARD §7), written once. Imports nothing. */

/** Size of the data volume: the stack's default and, in the environments held to it, the policy's minimum. */
export const STORAGE_SIZE = "50Gi";
/** Storage class of the data volume on DigitalOcean (it allows expansion). */
export const STORAGE_CLASS = "do-block-storage";
/** Environments whose data volume the policy holds to the standard's size and class. */
export const STANDARD_VOLUME_ENVIRONMENTS: readonly string[] = ["prod"];
