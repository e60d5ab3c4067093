import { BlockList, isIP } from "node:net";
import { z } from "zod";
import { HandshakeRefusedError } from "../filters/refusals.js";

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

const ipOrCidrSchema = z.string().superRefine((text, ctx) => {
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

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix] = entry.trim().split("/");
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** Allow list first, then block list, then `blockByDefault` (as Easegress decides). */
export class IPFilter {
  private readonly allow: BlockList;
  private readonly block: BlockList;

  constructor(private readonly spec: IPFilterSpec) {
    this.allow = blockListOf(spec.allowIPs);
    this.block = blockListOf(spec.blockIPs);
  }

  allows(ip: string): boolean {
    const family = isIP(ip);
    if (family === 0) return !this.spec.blockByDefault;
    const type = family === 6 ? "ipv6" : "ipv4";
    if (this.allow.check(ip, type)) return true;
    if (this.block.check(ip, type)) return false;
    return !this.spec.blockByDefault;
  }
}

/** The error a filtered client gets: 403. */
export function ipBlocked(ip: string): HandshakeRefusedError {
  return new HandshakeRefusedError(403, "WSG_IP_BLOCKED", `client address ${ip} is not allowed`);
}
