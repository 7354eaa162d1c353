// hanzo-sql: Hanzo's relational database standard (HIP-29, ADR-60) for one cluster stack.
// See README.md; the program is in program.ts, its parts in stacks/ and components/.
import { main } from "./program";

const outputs = main();

export const environment = outputs.environment;
export const namespace = outputs.namespace;
export const endpoint = outputs.endpoint;
export const adminSecret = outputs.adminSecret;
export const databases = outputs.databases;
export const roles = outputs.roles;
export const connectionSecrets = outputs.connectionSecrets;
export const backups = outputs.backups;
