import type * as pulumi from "@pulumi/pulumi";

/**
 * The pod template's fields that run it as its ServiceAccount without a token. Both the ServiceAccount and
 * the pod say `automountServiceAccountToken: false`: the API server's ServiceAccount admission plugin mounts
 * the token unless the pod's field, which wins when set, or else the ServiceAccount's, is false
 * (`shouldAutomount`, plugin/pkg/admission/serviceaccount/admission.go in kubernetes/kubernetes); the pod's
 * own field keeps the token out even if someone edits the ServiceAccount.
 */
export function podIdentity(serviceAccountName: pulumi.Input<string>): {
    serviceAccountName: pulumi.Input<string>;
    automountServiceAccountToken: false;
} {
    return { serviceAccountName, automountServiceAccountToken: false };
}
