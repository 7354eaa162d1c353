/**
 * The pod runner's network (test/harness/pod/network.ts): a pod leaving must not cut the others off the host's
 * servers (s3rver standing in for MinIO, the DNS stand-in, a test's listener), which all live on the bridge. A
 * Linux bridge left to itself takes the lowest of its ports' MAC addresses and changes it when that port goes;
 * the remaining pods' ARP entries then name an address no one answers, and their packets to the bridge's
 * addresses are dropped until the entry is probed again (tens of seconds). That is how a standby's
 * restore_command hung for pgBackRest's whole io-timeout (60 s) during a promotion in
 * test/pods/pitrStandby.test.ts, intermittently, depending on which pod's veth had the lowest address.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import { PodNetwork } from "../harness/pod/network";

const mac = (dev: string) => fs.readFileSync(`/sys/class/net/${dev}/address`, "utf8").trim();
/** The host side of a pod's veth pair (network.ts names it after the namespace). */
const hostSide = (netns: string) => netns.replace(/^hsql-/, "hsv");

describe("pods: the pod network keeps the host reachable when a pod leaves", function () {
    this.timeout(60_000);
    let network: PodNetwork;
    let server: net.Server;

    before(() => {
        network = PodNetwork.create();
    });
    after(async () => {
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
        network?.destroy();
    });

    it("the bridge's address stays when the port with the lowest address leaves, and a remaining pod connects to the host at once", async () => {
        server = net.createServer((s) => s.end());
        await new Promise<void>((r) => server.listen(0, network.gateway, () => r()));
        const port = (server.address() as net.AddressInfo).port;
        const connect = (netns: string) =>
            execFileSync("ip", ["netns", "exec", netns, "timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${network.gateway}/${port}`], {
                stdio: "ignore",
            });
        const pods = [network.attach(), network.attach(), network.attach()];
        // Each pod has talked to the host: its ARP entry for the gateway holds the bridge's address now.
        pods.forEach((p) => connect(p.netns));
        const before = mac(network.bridge);
        assert.ok(!pods.some((p) => mac(hostSide(p.netns)) === before), "the bridge has an address of its own, not a port's");
        // The pod whose veth has the lowest address goes first: the one a bridge without its own address would copy.
        const byAddress = [...pods].sort((a, b) => (mac(hostSide(a.netns)) < mac(hostSide(b.netns)) ? -1 : 1));
        network.detach(byAddress[0].netns);
        assert.strictEqual(mac(network.bridge), before);
        // Within 3 s (two SYN retransmissions): a changed address would drop every packet until the ARP entry expires.
        connect(byAddress[1].netns);
        connect(byAddress[2].netns);
    });
});
