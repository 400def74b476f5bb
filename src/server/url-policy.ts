// Which addresses the server may connect to for URLs that come from requests (image inputs, webhooks,
// output_file_prefix). Unguarded, a client could make the server fetch from its own loopback, the private
// network or a cloud metadata service (SSRF). Addresses are checked after DNS resolution, inside the
// connection's own lookup, so a name cannot resolve to a public address for a check and to a private one for
// the connection; redirects go through the same check (see outbound.ts).
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/** A URL this server will not reach; the message says why, after the URL. */
export class UrlRefusedError extends Error {}

export interface UrlPolicyOptions {
  /** Refuse hosts that resolve to loopback, private, link-local, multicast or otherwise non-public addresses. */
  denyPrivate: boolean;
  /** Hosts reached even when they resolve to such addresses: exact names or IPs, or `*.example.com` for subdomains. */
  allowHosts: readonly string[];
}

// IANA's special-purpose ranges (RFC 6890 and successors): nothing a public image or webhook host lives at.
const IPV4_DENIED: [string, number][] = [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15],
  ["198.51.100.0", 24], ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
];
const IPV6_DENIED: [string, number][] = [
  ["::", 128], ["::1", 128], ["64:ff9b:1::", 48], ["100::", 64], ["2001:db8::", 32], ["2002::", 16],
  ["fc00::", 7], ["fe80::", 10], ["fec0::", 10], ["ff00::", 8],
];

const DENIED = new BlockList();
for (const [net, bits] of IPV4_DENIED) {
  DENIED.addSubnet(net, bits, "ipv4");
  // The same IPv4 ranges reached through NAT64 (64:ff9b::a.b.c.d); IPv4-mapped (::ffff:a.b.c.d) ones
  // BlockList already matches against the IPv4 rules.
  DENIED.addSubnet(`64:ff9b::${net}`, 96 + bits, "ipv6");
}
for (const [net, bits] of IPV6_DENIED) DENIED.addSubnet(net, bits, "ipv6");

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && DENIED.check(address, family === 6 ? "ipv6" : "ipv4");
}

/** "127.0.0.1", "localhost" and "::1" are loopback hosts; the default of denyPrivate follows whether the server listens on one. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/** A URL's hostname without the brackets of an IPv6 literal. */
const bare = (hostname: string) => hostname.replace(/^\[(.*)\]$/, "$1");

export class UrlPolicy {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(readonly opts: UrlPolicyOptions) {
    for (const h of opts.allowHosts.map((h) => bare(h.trim().toLowerCase())).filter(Boolean)) {
      if (h.startsWith("*.")) this.suffixes.push(h.slice(1));
      else this.exact.add(h);
    }
  }

  /** Whether `host` (a URL's hostname) skips the address check. */
  private allowed(host: string): boolean {
    return this.exact.has(host) || this.suffixes.some((s) => host.endsWith(s));
  }

  private refuse(url: URL, address: string): never {
    throw new UrlRefusedError(`${url.host} is ${bare(url.hostname) === address ? "" : `${address}, `}a private, loopback or ` +
      "otherwise non-public address, which this server does not connect to (--deny-private-urls; trust a host with --allow-url-hosts)");
  }

  /**
   * Options for node:http(s).request that enforce the policy on `url`: an IP literal is checked here (no lookup
   * happens for one), a name inside the connection's lookup, on every address it resolves to.
   */
  connectOptions(url: URL): { lookup?: LookupFunction } {
    if (!/^https?:$/.test(url.protocol)) throw new UrlRefusedError(`${url.protocol} URLs are not fetched (http or https only)`);
    const host = bare(url.hostname).toLowerCase();
    if (!this.opts.denyPrivate || this.allowed(host)) return {};
    if (isIP(host)) {
      if (isPrivateAddress(host)) this.refuse(url, host);
      return {};
    }
    const lookup = (hostname: string, options: LookupAllOptions | object, callback: (...args: unknown[]) => void) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err);
        const bad = addresses.find((a) => isPrivateAddress(a.address));
        if (bad) {
          try {
            this.refuse(url, bad.address);
          } catch (e) {
            return callback(e);
          }
        }
        if ((options as LookupAllOptions).all) return callback(null, addresses);
        callback(null, addresses[0].address, addresses[0].family);
      });
    };
    return { lookup: lookup as LookupFunction };
  }

  /** Throws UrlRefusedError when `url` may not be reached (checked now, for a URL that is used later, e.g. a webhook). */
  async check(url: URL): Promise<void> {
    const { lookup } = this.connectOptions(url);
    if (!lookup) return;
    await new Promise<void>((resolve, reject) => {
      lookup(url.hostname, { all: true }, (err) => {
        if (err instanceof UrlRefusedError) reject(err);
        else resolve(); // a name that does not resolve now may later; the connection will say
      });
    });
  }
}
