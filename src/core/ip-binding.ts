import { hash } from 'node:crypto';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ApiError } from '../errors.js';

/*
 * Binding of an API key to the end user's IP and user agent (SPEC §4.1). `ipa` is one exact
 * address (the default) or a list of CIDR blocks; `usa` is the SHA-256 of the user agent.
 * Addresses are compared in canonical form, and an IPv4-mapped IPv6 address (::ffff:1.2.3.4)
 * is the same client as its IPv4 form: dual-stack proxies report either.
 */

export interface BindRequest {
  ip?: boolean | string[];
  user_agent?: boolean;
}

export interface Binding {
  ipa: string | string[] | undefined;
  usa: string | undefined;
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses an address, folding IPv4-mapped IPv6 onto IPv4. */
function canonical(ip: string): Addr {
  return ipaddr.process(ip);
}

/** A CIDR block in canonical form; an IPv4-mapped IPv6 block (::ffff:a.b.c.d/n, n ≥ 96) becomes IPv4. */
function canonicalCidr(cidr: string): [Addr, number] {
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [addr, bits];
}

export function userAgentHash(userAgent: string): string {
  return hash('sha256', userAgent, 'base64url');
}

/** The binding claims for a new key. Invalid CIDR blocks are a 400 naming the block; a bare address is its /32 or /128. */
export function resolveBinding(bind: BindRequest | undefined, ip: string, userAgent: string | undefined): Binding {
  const bindIp = bind?.ip ?? true;
  let ipa: string | string[] | undefined;
  if (bindIp === true) ipa = canonical(ip).toString();
  else if (Array.isArray(bindIp)) {
    ipa = bindIp.map((cidr, i) => {
      if (isIP(cidr) !== 0) {
        // A bare address is the block of that one address (/32, /128).
        const addr = canonical(cidr);
        return `${addr.toString()}/${addr.kind() === 'ipv4' ? 32 : 128}`;
      }
      if (!ipaddr.isValidCIDR(cidr)) {
        throw new ApiError('invalid_request', `bind.ip[${i}] is not a CIDR block`, { details: [{ path: `/bind/ip/${i}`, message: 'must be a CIDR block like 10.0.0.0/8 or 2001:db8::/32, or one address' }] });
      }
      const [addr, bits] = canonicalCidr(cidr);
      return `${addr.toString()}/${bits}`;
    });
  }
  // Asked for in so many words, a user-agent binding needs the user agent (issue_apikey_nosession,
  // where it is optional): a key issued unbound instead would be looser than the caller asked for.
  if (bind?.user_agent === true && userAgent === undefined) {
    throw new ApiError('invalid_request', 'bind.user_agent is true but no user_agent was given', { details: [{ path: '/user_agent', message: 'is required when bind.user_agent is true' }] });
  }
  const usa = (bind?.user_agent ?? true) && userAgent !== undefined ? userAgentHash(userAgent) : undefined;
  return { ipa, usa };
}

/** True when `ip` satisfies the key's `ipa` claim (no claim: any address). */
export function ipAllowed(ipa: string | string[] | undefined, ip: string): boolean {
  if (ipa === undefined) return true;
  // A single-address claim is stored canonical: the same string is the same address (no parsing).
  if (typeof ipa === 'string' && ipa === ip) return true;
  let addr: Addr;
  try {
    addr = canonical(ip);
  } catch {
    return false;
  }
  if (typeof ipa === 'string') return ipaddr.isValid(ipa) && canonical(ipa).toString() === addr.toString();
  return ipa.some((cidr) => {
    try {
      const range = canonicalCidr(cidr);
      return range[0].kind() === addr.kind() && addr.match(range);
    } catch {
      return false;
    }
  });
}

/** The stored form of the binding (api_keys.bind_ip is a JSON list). */
export function bindIpColumn(ipa: string | string[] | undefined): string[] | null {
  return ipa === undefined ? null : typeof ipa === 'string' ? [ipa] : ipa;
}
