/** The hanzo-k8s stack as the real-server tests configure it: one list of its services, one spec. */
import { specOf, stackConfig } from "../../cli/plan/stackFile";
import type { StackSpec } from "../../stacks/spec";

/** hanzo-k8s's services as Pulumi.hanzo-k8s.yaml lists them, but without the kms's seven-year backupRetentionDays. */
export const HANZO_K8S_SERVICES: (string | { name: string; connection: string })[] = [
    { name: "iam", connection: "beego" },
    "cloud",
    "console",
    "hanzo_cloud",
    { name: "kms", connection: "infisical" },
    "platform",
];

/** The spec of hanzo-k8s (prod) with those services: what `npm run verify` checks a hanzo-k8s server against. */
export function hanzoK8sSpec(): StackSpec {
    return specOf(stackConfig("hanzo-k8s", { environment: "prod", clusterName: "hanzo-k8s", services: HANZO_K8S_SERVICES }));
}
