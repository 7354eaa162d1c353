// The hanzo-sql policy pack: `pulumi preview --policy-pack policies`. Constructing the PolicyPack starts its
// gRPC server, so only this entry file does it; the policies themselves live in all.ts.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./all";

new PolicyPack(PACK_NAME, {
    description:
        "The Hanzo SQL standard (HIP-29, ADR-60) as code: names, roles, extensions, server configuration, hardening, network, data protection, secrets.",
    enforcementLevel: "mandatory",
    policies,
});
