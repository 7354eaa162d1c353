/**
 * kubectl, interpreted: exactly the command lines `npm run failover` (cli/failover.ts `argv`) issues, answered
 * from a test's server pods, anything else a test failure. One interpreter for every place that runs the
 * command's own `failover()` on something that is not a cluster: the pod runner (test/pods/standby.test.ts),
 * loopback servers (test/db/failoverMulti.test.ts) and the bench (test/harness/local/standbys.ts). What each
 * form does is the pods' own business (`ServerPodHandle`); what kubectl prints and exits with is kubectl's, as its
 * source has it (kubernetes/kubectl, read at master dee3483a3d6a and tag kubernetes-1.32.4):
 *  - a pod that does not exist, for every form: stderr `Error from server (NotFound): pods "<pod>" not found` and a
 *    newline, exit 1 (pkg/cmd/util/helpers.go `StandardErrorMessage` "Error from server (%s): %s", `fatal` adds the
 *    newline; the text is apimachinery's `NewNotFound`, `%s %q not found`);
 *  - `get -o jsonpath=…`: the values only, no newline (client-go util/jsonpath `PrintResults`); a pod with no Ready
 *    condition yet prints nothing, exit 0 (the filter `?(@.type=="Ready")` matches nothing). The test pods always
 *    have one, so this interpreter answers `True` or `False`; the command reads "" as not Ready;
 *  - `exec`: the remote command's output, and for a status N ≠ 0 `command terminated with exit code N` on stderr and
 *    exit N (client-go tools/remotecommand v4 `CodeExitError`; helpers.go passes `ExitStatus()` to os.Exit);
 *  - `label … --overwrite`: `pod/<pod> labeled` (kubectl says `not labeled` when the value was already there, exit 0
 *    too; the command reads neither, and this interpreter always says `labeled`);
 *  - `wait --for=condition=Ready`: `pod/<pod> condition met`; on its timeout stderr `error: timed out waiting for the
 *    condition on pods/<pod>`, exit 1 (pkg/cmd/wait/condition.go);
 *  - `delete pod --wait=true`: `pod "<pod>" deleted` (kubectl 1.34 and later add ` from <ns> namespace`: the
 *    command reads no output of it), printed before the wait, which ends when the pod is gone or recreated under
 *    the same name with a new UID (pkg/cmd/wait/delete.go), not when the new pod is Ready.
 */
import * as assert from "assert";
import { Kubectl, KubectlResult, argv } from "../../cli/failover";
import { ROLE_LABEL } from "../../policies/standard/replication";
import { SERVER_CONTAINER } from "../../policies/standard/serverPod";

/** What a test's server pod does for each kubectl form the failover issues. */
export interface ServerPodHandle {
    /** `kubectl exec <pod> -c postgres -- <command>`: the command in the server container. */
    exec(command: readonly string[]): Promise<KubectlResult>;
    /** `kubectl label pod <pod> hanzo.ai/role=<role> --overwrite`. */
    label(role: string): Promise<void>;
    /** The Ready condition `kubectl get pod -o jsonpath=…` prints. */
    ready(): Promise<boolean>;
    /** `kubectl wait --for=condition=Ready`: resolves when Ready, rejects with kubectl's message on its timeout. */
    waitReady(): Promise<void>;
    /** `kubectl delete pod --wait=true`: gone, and (as its StatefulSet does) recreated on its claim. */
    delete(): Promise<void>;
}

export const answer = (status: number, stdout = "", stderr = ""): KubectlResult => ({ status, stdout, stderr });
const notFound = (pod: string) => answer(1, "", `Error from server (NotFound): pods "${pod}" not found\n`);

/** A Kubectl over `pods` (undefined: no such pod) in namespace `ns`. */
export function kubectlOver(ns: string, pods: (name: string) => ServerPodHandle | undefined): Kubectl {
    return async (args) => {
        const [n, namespace, verb, ...rest] = args;
        assert.deepStrictEqual([n, namespace], ["-n", ns], `kubectl ${args.join(" ")}: the namespace`);
        if (verb === "exec") {
            const [pod, c, container, dashes, ...command] = rest;
            assert.deepStrictEqual([c, container, dashes], ["-c", SERVER_CONTAINER, "--"], `kubectl ${args.join(" ")}`);
            // Exactly one of the two commands the failover runs there: its psql (the statements after each -c), its stop.
            const statements = command.flatMap((x, i) => (x === "-c" && command[i - 1] !== "bash" ? [command[i + 1]] : []));
            assert.deepStrictEqual(args, command[0] === "env" ? argv.sql(ns, pod, statements) : argv.stop(ns, pod));
            const p = pods(pod);
            if (!p) {
                return notFound(pod);
            }
            const r = await p.exec(command);
            return r.status === 0 ? r : { ...r, stderr: `${r.stderr}command terminated with exit code ${r.status}\n` };
        }
        if (verb === "label") {
            const pod = rest[1];
            const role = (rest[2] ?? "").replace(`${ROLE_LABEL}=`, "");
            assert.deepStrictEqual(args, argv.label(ns, pod, role));
            const p = pods(pod);
            if (!p) {
                return notFound(pod);
            }
            await p.label(role);
            return answer(0, `pod/${pod} labeled\n`);
        }
        if (verb === "get") {
            const pod = rest[1];
            assert.deepStrictEqual(args, argv.ready(ns, pod));
            const p = pods(pod);
            return p ? answer(0, (await p.ready()) ? "True" : "False") : notFound(pod);
        }
        if (verb === "wait") {
            const pod = (rest[1] ?? "").replace(/^pod\//, "");
            assert.deepStrictEqual(args, argv.waitReady(ns, pod));
            const p = pods(pod);
            if (!p) {
                return notFound(pod);
            }
            return p.waitReady().then(
                () => answer(0, `pod/${pod} condition met\n`),
                () => answer(1, "", `error: timed out waiting for the condition on pods/${pod}\n`),
            );
        }
        if (verb === "delete") {
            const pod = rest[1];
            assert.deepStrictEqual(args, argv.deletePod(ns, pod));
            const p = pods(pod);
            if (!p) {
                return notFound(pod);
            }
            await p.delete();
            return answer(0, `pod "${pod}" deleted\n`);
        }
        throw new Error(`kubectl ${args.join(" ")}: not a command line cli/failover.ts issues`);
    };
}
