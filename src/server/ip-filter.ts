import { isIP } from "node:net";
import { z } from "zod";
import { HandshakeRefusedError } from "../filters/refusals.js";
import { AddressSet } from "../util/net/ip-address.js";

/** Whether `text` is an address or a CIDR range that `net.BlockList` takes. */
function ipOrCidrProblem(text: string): string | undefined {
  const [address = "", prefix, ...rest] = text.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return `invalid IP address or CIDR '${text}'`;
  if (prefix === undefined) return undefined;
  const bits = Number(prefix);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(prefix) || bits > max) return `invalid prefix length in '${text}' (0 to ${max})`;
  return undefined;
}

export const ipOrCidrSchema = z.string().superRefine((text, ctx) => {
  const problem = ipOrCidrProblem(text.trim());
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: text });
});

/** Easegress's `ipFilter`: on an HTTPServer, a rule or a path. */
export const ipFilterSchema = z.strictObject({
  blockByDefault: z.boolean().default(false).describe("Refuse addresses in neither list."),
  allowIPs: z.array(ipOrCidrSchema).default([]).describe("Addresses or CIDR ranges always let in."),
  blockIPs: z.array(ipOrCidrSchema).default([]).describe("Addresses or CIDR ranges refused (unless also allowed)."),
});

export type IPFilterSpec = z.output<typeof ipFilterSchema>;

/** Allow list first, then block list, then `blockByDefault` (as Easegress decides). */
export class IPFilter {
  private readonly allow: AddressSet;
  private readonly block: AddressSet;

  constructor(private readonly spec: IPFilterSpec) {
    this.allow = new AddressSet(spec.allowIPs);
    this.block = new AddressSet(spec.blockIPs);
  }

  /** `ip` is the client address as client-ip.ts decides it: always an address, never a header's free text. */
  allows(ip: string): boolean {
    if (this.allow.has(ip)) return true;
    if (this.block.has(ip)) return false;
    return !this.spec.blockByDefault;
  }
}

/** The error a filtered client gets: 403. */
export function ipBlocked(ip: string): HandshakeRefusedError {
  return new HandshakeRefusedError(403, "WSG_IP_BLOCKED", `client address ${ip} is not allowed`);
}
