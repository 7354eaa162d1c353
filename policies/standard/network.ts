/**
 * The networks pg_hba.conf may admit with a password (STANDARD §4: the pod network, everything else
 * rejected), IPv4 and IPv6, written once. The config loader checks `podNetworkCidrs` with it, the policy pack
 * and the live verifier check every pg_hba address with it. Addresses are parsed by ipaddr.js (a dependency of
 * the pack too), not by hand.
 */
import * as ipaddr from "ipaddr.js";

/** The standard's pod network, the default of `podNetworkCidrs`. */
export const POD_NETWORK = "10.0.0.0/8";

/**
 * Address space a client network must lie inside: IPv4 private networks (RFC 1918) and shared address space
 * (RFC 6598, which some CNIs give pods), IPv6 unique local addresses (RFC 4193), and loopback (the server's
 * own rules for port-forwards and sidecars). Anything else reaches addresses routed on the internet.
 */
export const PRIVATE_NETWORKS: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];
export const LOOPBACK_NETWORKS: readonly string[] = ["127.0.0.0/8", "::1/128"];

/**
 * What is not the public Internet, for egress (render/egress.ts keeps these out of a rule to "any public
 * address"). IPv4 (RFC 6890): "this network", the private networks (where DOKS puts pods, 10.244.0.0/16,
 * Services, 10.245.0.0/16, and the VPC), shared address space, loopback, link-local (169.254.169.254 is the
 * droplet metadata service, which hands out credentials), the benchmarking block, multicast and reserved.
 * IPv6: loopback, IPv4-mapped, unique local, link-local, multicast. Every network `podNetworkCidrs` may
 * name lies inside these (a test checks it), so the cluster's own pods stay out of that rule too.
 */
export const NON_PUBLIC_IPV4: readonly string[] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",
];
export const NON_PUBLIC_IPV6: readonly string[] = ["::1/128", "::ffff:0:0/96", "fc00::/7", "fe80::/10", "ff00::/8"];

/** The single-address network (`/32`, `/128`) of an IP address literal (a URL's host, brackets and all), or undefined for a name. */
export function addressNetwork(host: string): string | undefined {
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    if (ipaddr.IPv4.isValidFourPartDecimal(bare)) {
        return `${bare}/32`;
    }
    return !bare.includes("%") && ipaddr.IPv6.isValid(bare) ? `${ipaddr.IPv6.parse(bare).toString()}/128` : undefined;
}

/** Is the network written `inner` inside one of `outers`? (Both in CIDR form; false when `inner` is not one.) */
export function networkInside(inner: string, outers: readonly string[]): boolean {
    const n = parseNetwork(inner);
    return n !== undefined && outers.some((outer) => inside(n, outer));
}

/** The widest IPv6 network admitted: one RFC 4193 site's prefix (a cluster's pod network is a /48 to a /64 inside it). */
export const IPV6_WIDEST_PREFIX = 48;

export interface Network {
    readonly family: "ipv4" | "ipv6";
    readonly address: ipaddr.IPv4 | ipaddr.IPv6;
    readonly prefix: number;
}

/**
 * A network written in CIDR form (`10.0.0.0/8`, `fd00:10:244::/56`), or undefined when it is not one. IPv4
 * must be four decimal parts (ipaddr.js would also read `10.0.0/8` or hex parts, as inet_aton does); an
 * IPv4-mapped IPv6 network (`::ffff:0:0/96`) is the IPv4 network it maps, so it is judged as one.
 */
export function parseNetwork(text: string): Network | undefined {
    if (ipaddr.IPv4.isValidCIDRFourPartDecimal(text)) {
        const [address, prefix] = ipaddr.IPv4.parseCIDR(text);
        return { family: "ipv4", address, prefix };
    }
    if (!text.includes("%") && ipaddr.IPv6.isValidCIDR(text)) {
        const [address, prefix] = ipaddr.IPv6.parseCIDR(text);
        if (address.isIPv4MappedAddress() && prefix >= 96) {
            return { family: "ipv4", address: address.toIPv4Address(), prefix: prefix - 96 };
        }
        return { family: "ipv6", address, prefix };
    }
    return undefined;
}

/** Is network `n` inside the network written `outer`? */
function inside(n: Network, outer: string): boolean {
    const [address, prefix] = ipaddr.parseCIDR(outer);
    return address.kind() === n.address.kind() && n.prefix >= prefix && n.address.match(address, prefix);
}

const EXAMPLE = "IPv4 such as 10.0.0.0/8, or IPv6 such as fd00:10:244::/56";

/** Why a network (CIDR form) may not be admitted with a password, or undefined when it may. */
export function networkProblem(cidr: string): string | undefined {
    const n = parseNetwork(cidr);
    if (n === undefined) {
        return `must be a network in CIDR form: ${EXAMPLE}`;
    }
    if (![...PRIVATE_NETWORKS, ...LOOPBACK_NETWORKS].some((outer) => inside(n, outer))) {
        return `reaches beyond private address space; the standard admits the pod network only: a range inside ${PRIVATE_NETWORKS.join(", ")}`;
    }
    if (n.family === "ipv6" && n.prefix < IPV6_WIDEST_PREFIX) {
        return `is wider than a /${IPV6_WIDEST_PREFIX} (one RFC 4193 site); the standard admits the pod network only`;
    }
    return undefined;
}

/**
 * Why a pg_hba.conf ADDRESS field may not be admitted with a password, or undefined: CIDR form, the
 * `address mask` form (`10.0.0.0 255.0.0.0`, as pg_hba.conf and pg_hba_file_rules write it) or a keyword.
 * `all` admits every address, `samenet` every subnet the server's interfaces are on, a host name whatever DNS
 * says; `samehost` is the server's own addresses.
 */
export function hbaAddressProblem(address: string): string | undefined {
    if (address === "samehost") {
        return undefined;
    }
    if (address === "all") {
        return "admits every address; the standard admits the pod network only";
    }
    const [ip, mask, ...rest] = address.trim().split(/\s+/);
    if (mask === undefined) {
        return networkProblem(ip);
    }
    const prefix =
        rest.length === 0 && ipaddr.isValid(mask) && !mask.includes("%") ? ipaddr.parse(mask).prefixLengthFromSubnetMask() : null;
    return prefix === null ? `must be a network in CIDR form: ${EXAMPLE}` : networkProblem(`${ip}/${prefix}`);
}

/** Link-local networks: 169.254.169.254 is the droplet metadata service, which hands out credentials. */
export const LINK_LOCAL_NETWORKS: readonly string[] = ["169.254.0.0/16", "fe80::/10"];
/** "This network" (0.0.0.0/8, `::`): a connection to it reaches the local host on Linux. */
export const THIS_NETWORK: readonly string[] = ["0.0.0.0/8", "::/128"];

/**
 * Why a host (a URL's hostname, brackets and all, as WHATWG URL normalises it: `http://2852039166/` and
 * `http://0xa9fea9fe/` are 169.254.169.254) may not be an endpoint the program or its jobs connect to, or
 * undefined. Link-local always (the metadata service); loopback and "this network" unless `loopback` (the
 * admin connection through `kubectl port-forward`): in a pod they reach the pod itself, not the service named.
 */
export function endpointHostProblem(host: string, loopback: boolean): string | undefined {
    const h = host.toLowerCase().replace(/\.$/, "");
    const network = addressNetwork(h);
    if (network !== undefined && networkInside(network, LINK_LOCAL_NETWORKS)) {
        return "is a link-local address (169.254.0.0/16, fe80::/10: the droplet metadata service, which hands out credentials)";
    }
    const local =
        h === "localhost" ||
        h.endsWith(".localhost") ||
        (network !== undefined && networkInside(network, [...LOOPBACK_NETWORKS, ...THIS_NETWORK]));
    if (!loopback && local) {
        return "is a loopback address: from a pod it reaches the pod itself, not the service";
    }
    return undefined;
}
