/**
 * The network a request came from, as a keyed tag: what the browser of a QR page (the card login's, or the eKYC
 * signing page's) and the companion that scans its QR code are compared by, so that the companion can warn a person
 * who is about to finish a login, or sign a statement, that started elsewhere (QRLJacking: a phishing page shows the
 * QR code of a login or a signature its owner's browser started, and the person's card would then log in, or verify
 * an identity, for the attacker's session). BankID's `endUserIp` check does the same with the address itself; here
 * the address is never kept: only HMAC-SHA256, under a key derived from the provider's `pairwiseSecret`, of its
 * network prefix (IPv4 /24, IPv6 /64; an IPv4-mapped IPv6 address counts as IPv4). Without the key, a stored tag
 * names no network; with it, one /24 is 2^24 guesses, so the key stays where the pairwise secret does.
 *
 * A coarse signal, not proximity: a home's Wi-Fi is one /24 (phone and computer agree), a phone on mobile data is
 * another network than the computer next to it (a false "other"), and two strangers behind one carrier-grade NAT
 * share a prefix (a false "same"). It only ever adds a caution, never refuses.
 */
import { createHmac, createSecretKey, hkdfSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import type { EventLog, LogEvent } from './lib/log.ts';

/**
 * Whether the companion scans from the network the login (or signature) started on; anything unknown is `other`
 * (fail closed).
 */
export type Network = 'same' | 'other';

/**
 * Who scanned a QR code, as `LoginTransactions.scan` (login-transaction.ts) and `SignTransactions.scan`
 * (ekyc/sign-transaction.ts) take it.
 */
export interface ScanFrom {
  /** The companion's network tag ({@link networkTagger}); absent when unknown. */
  readonly network?: string | undefined;
  /**
   * Told of a scan that was answered, with the transaction's client and the network comparison (the operator's log).
   */
  readonly scanned?: ((clientId: string, network: Network) => void) | undefined;
}

/**
 * The `scanned` callback of a login's or a signature's scan: writes `event` (`loginScannedEvent` of
 * interactions/companion.ts, `signScannedEvent` of ekyc/pages.ts) to `log`. A log that throws is ignored: the log is
 * the operator's, and the companion's answer does not depend on it.
 */
export function scanLogger(
  now: () => number,
  log: EventLog,
  event: (at: number, clientId: string, network: Network) => LogEvent,
): (clientId: string, network: Network) => void {
  return (clientId, network) => {
    try {
      log(event(now(), clientId, network));
    } catch {
      // Ignored, as above.
    }
  };
}

/** Domain separation: the tag key is not the pairwise key, and a tag is no `sub`. */
const TAG_INFO = 'mynagate network tag v1';

/**
 * Who may tell the provider the client's address (`ServerConfig.trustProxy`, `"trustProxy"` of `mynagate serve`):
 * - `false`: no one; the client is the socket's peer.
 * - `true`: whoever connects, for one hop: the client is the last `X-Forwarded-For` entry, the one the proxy in front
 *   added. Right only when nothing can reach the provider but that one proxy: a client that connects directly names
 *   itself any network by sending the header.
 * - a list of the proxies' addresses and networks (`"10.0.0.0/8"`, `"192.0.2.7"`, `"2001:db8::/32"`): only those. A
 *   request whose socket peer is not one of them is its own client (its `X-Forwarded-For` ignored); one from a listed
 *   proxy is from the last entry that is not a listed proxy, read from the right, so a chain of them (a CDN before a
 *   load balancer) is walked through as long as each hop is listed.
 */
export type TrustProxy = boolean | readonly string[];

/**
 * {@link TrustProxy} checked and made ready: `true`, `false`, or the listed proxies. Throws a TypeError naming the
 * first entry that is not an IP address or a network in CIDR form.
 *
 * @example
 * ```ts
 * const trust = proxyTrust(['10.0.0.0/8', '2001:db8::/32']);
 * clientAddress(req, trust); // the nearest address before the listed proxies
 * ```
 */
export function proxyTrust(trust: TrustProxy | undefined): ProxyTrust {
  if (trust === undefined || trust === false) return false;
  if (trust === true) return true;
  if (!Array.isArray(trust) || trust.length === 0)
    throw new TypeError("trustProxy must be true, false or a non-empty list of the proxies' addresses or networks");
  // One list per family, each checked only with its own: node:net's BlockList matches an IPv4 address against any IPv6
  // network covering ::ffff:0:0/96, so `::/8` (or `::ffff:10.0.0.0/8`, meant as 10/8) would list every IPv4 peer, and
  // a client connecting directly over IPv4 could then name any IPv6 network in its header.
  const v4 = new BlockList();
  const v6 = new BlockList();
  for (const entry of trust as readonly unknown[]) {
    const [address, bits, extra] = typeof entry === 'string' ? entry.split('/') : [];
    const type = address === undefined ? 0 : isIP(address);
    const max = type === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (type === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max))
      throw new TypeError(
        `trustProxy: ${JSON.stringify(entry)} is not an IP address or a network in CIDR form (e.g. 10.0.0.0/8, 2001:db8::/32)`,
      );
    // An IPv4-mapped entry (as a dual-stack socket names an IPv4 peer) is that IPv4 network: peers are compared as IPv4.
    const mapped = type === 6 ? mappedIPv4(address!) : undefined;
    if (mapped !== undefined) {
      if (prefix < 96)
        throw new TypeError(
          `trustProxy: ${JSON.stringify(entry)} reaches beyond IPv4-mapped addresses (a prefix under /96): write the IPv4 network itself, e.g. 10.0.0.0/8`,
        );
      v4.addSubnet(mapped, prefix - 96, 'ipv4');
    } else if (type === 4) v4.addSubnet(address!, prefix, 'ipv4');
    else v6.addSubnet(address!, prefix, 'ipv6');
  }
  return { has: (a) => (isIPv4(a) ? v4.check(a, 'ipv4') : v6.check(a, 'ipv6')) };
}

/** {@link TrustProxy} as {@link proxyTrust} makes it: `has` tells whether an address is a listed proxy's. */
export type ProxyTrust = boolean | { has(address: string): boolean };

/**
 * The network tag of a request's client, or `undefined` when its address is unknown or not an IP address. The
 * client is as {@link clientAddress} finds it: the socket's peer, or behind trusted proxies (`trustProxy`, see
 * {@link TrustProxy}) the address they say it is. Koa would take the first `X-Forwarded-For` entry, which the client
 * itself may have sent: a phishing page's owner who learnt the victim's address from that page's visit could then
 * claim the victim's network. Behind a trusted proxy, a request without the header has no known client (the socket
 * is the proxy, shared by everyone).
 *
 * @example
 * ```ts
 * const networkOf = networkTagger(config.pairwiseSecret, proxyTrust(config.trustProxy));
 * const tag = networkOf(req); // 'Jx3…' (22 characters), or undefined
 * ```
 */
export function networkTagger(secret: Uint8Array, trust: ProxyTrust): (req: IncomingMessage) => string | undefined {
  // Imported once: given bytes, `createHmac` imports them at every call (about 20 µs, against 5 with a KeyObject).
  const key = createSecretKey(Buffer.from(hkdfSync('sha256', secret, new Uint8Array(0), TAG_INFO, 32)));
  return (req) => {
    const prefix = networkPrefix(clientAddress(req, trust));
    return prefix === undefined
      ? undefined
      : createHmac('sha256', key).update(prefix).digest().subarray(0, 16).toString('base64url');
  };
}

/** Whether two tags name one network: both known and equal. */
export function compareNetworks(a: string | undefined, b: string | undefined): Network {
  return a !== undefined && b !== undefined && a === b ? 'same' : 'other';
}

/**
 * The client's address as {@link networkTagger} takes it (see there and {@link TrustProxy}). Behind a trusted proxy
 * it is an `X-Forwarded-For` entry without the port or brackets a proxy may add, an IPv4-mapped IPv6 address as its
 * IPv4 one and an IPv6 one without its zone; `undefined` when unknown (no header, an entry that is not an IP address,
 * or only proxies). Only the entries up to the client are read: those to its left are whatever the client sent.
 */
export function clientAddress(req: IncomingMessage, trust: ProxyTrust): string | undefined {
  if (trust === false) return req.socket.remoteAddress;
  // node:http joins repeated X-Forwarded-For header lines with ", ": the last entry of the last line is still the one
  // the nearest proxy added.
  const header = req.headers['x-forwarded-for'];
  const chain = typeof header === 'string' ? header : '';
  if (trust === true) return forwarded(chain.slice(chain.lastIndexOf(',') + 1));
  const peer = unmapped(req.socket.remoteAddress);
  if (peer === undefined) return undefined;
  // Not a listed proxy: the client itself, whatever it says the chain was.
  if (!trust.has(peer)) return peer;
  for (const entry of fromTheRight(chain)) {
    const address = forwarded(entry);
    // Fail closed: what a listed proxy passed on is unreadable, so the client is unknown.
    if (address === undefined) return undefined;
    if (!trust.has(address)) return address;
  }
  return undefined;
}

/**
 * The entries of an `X-Forwarded-For` value from the right, each cut out only when the walk reaches it: a long
 * left part, the client's own, costs nothing once the walk has stopped.
 */
function* fromTheRight(chain: string): Generator<string, void> {
  let end = chain.length;
  let comma: number;
  do {
    // lastIndexOf takes a negative start as 0, so the first character is not searched again once passed.
    comma = end === 0 ? -1 : chain.lastIndexOf(',', end - 1);
    yield chain.slice(comma + 1, end);
    end = comma;
  } while (comma !== -1);
}

/** One `X-Forwarded-For` entry as an address ({@link unmapped}), or `undefined` when it is none. */
function forwarded(entry: string): string | undefined {
  return unmapped(withoutPort(entry.trim()));
}

/** An `X-Forwarded-For` entry without the port or brackets some proxies add (`[2001:db8::1]:443`, `192.0.2.1:80`). */
function withoutPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed !== null) return bracketed[1]!;
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(entry);
  return v4WithPort !== null ? v4WithPort[1]! : entry;
}

/**
 * An IP address as the list of proxies is matched and a network is tagged: an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, a dual-stack socket's view of an IPv4 peer) as IPv4, an IPv6 one without its zone
 * (`fe80::1%eth0`); `undefined` for anything that is not an IP address (`unknown`, `192.0.2.1%eth0`).
 */
function unmapped(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (isIPv4(address)) return address;
  const bare = withoutZone(address);
  return isIPv6(bare) ? (mappedIPv4(bare) ?? bare) : undefined;
}

/**
 * The IPv4 address an IPv4-mapped IPv6 address carries (RFC 4291 §2.5.5.2: ::ffff:0:0/96), in any of its text forms
 * (`::ffff:192.0.2.1`, `::ffff:c000:201`, `0:0:0:0:0:ffff:192.0.2.1`); `undefined` for any other address. The one
 * definition of the mapped form: the list of proxies, the chain they pass on and the tag all go through it, so they
 * cannot disagree on what is IPv4.
 */
function mappedIPv4(address: string): string | undefined {
  const groups = ipv6Groups(address);
  if (groups === undefined || groups[5] !== 0xffff || !groups.slice(0, 5).every((g) => g === 0)) return undefined;
  const [high, low] = [groups[6]!, groups[7]!];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * An IPv6 address without its zone (RFC 4007 §11), cut here because node:net's isIPv6 refuses some interface names
 * (`fe80::1%br_lan`); an IPv4 address has none, so text without a colon is left as it is (and stays unreadable).
 */
function withoutZone(address: string): string {
  const zone = address.indexOf('%');
  return zone !== -1 && address.includes(':') ? address.slice(0, zone) : address;
}

/**
 * The network prefix of an IP address, as text: `4:203.0.113` (/24) or `6:2001:db8:1:2` (/64), an IPv4-mapped IPv6
 * address (`::ffff:203.0.113.7`) as its IPv4 address; `undefined` for anything else.
 *
 * @example networkPrefix('::ffff:192.0.2.10') // '4:192.0.2'
 */
export function networkPrefix(address: string | undefined): string | undefined {
  const ip = unmapped(address);
  if (ip === undefined) return undefined;
  if (isIPv4(ip)) return `4:${ip.split('.').slice(0, 3).join('.')}`;
  const groups = ipv6Groups(ip);
  if (groups === undefined) return undefined;
  return `6:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}`;
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2 text forms; a zone ignored), or `undefined`. */
function ipv6Groups(address: string): number[] | undefined {
  let text = withoutZone(address);
  if (!isIPv6(text)) return undefined;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  const groups =
    tail === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 ? groups : undefined;
}
