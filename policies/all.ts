/**
 * Every policy of the hanzo-sql pack. This module never constructs the PolicyPack (that starts a gRPC
 * server): index.ts does, and tests and the offline gate import this list.
 */
import type { Policies } from "@pulumi/policy";
import { PROJECT } from "./standard/types";
import { postgresNaming } from "./naming";
import { egressIsolation, networkIsolation } from "./network";
import { dataProtection } from "./protection";
import { maintenanceDatabasesClosed, noSuperuserCredentials, noSuperuserRoles } from "./roles";
import { noPlaintextSecrets } from "./secrets";
import { requiredExtensions, serverConfiguration } from "./server";
import { workloadHardening, workloadIdentity } from "./workload";

/** The pack is named after the project. */
export const PACK_NAME = PROJECT;

export const policies: Policies = [
    postgresNaming,
    noSuperuserRoles,
    noSuperuserCredentials,
    maintenanceDatabasesClosed,
    requiredExtensions,
    serverConfiguration,
    workloadHardening,
    workloadIdentity,
    networkIsolation,
    egressIsolation,
    dataProtection,
    noPlaintextSecrets,
];
