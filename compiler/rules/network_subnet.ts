/**
 * Rule: `network.subnet` is a CIDR Docker accepts for the stack's network:
 * four octets of 0-255 without leading zeros, a prefix of at most 32, no host
 * bits set (Docker names the network address it wants instead), and room for
 * every container of the stack, the gateway, the network and broadcast
 * addresses.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";
import { RESERVED_NAMES } from "./reserved_names.ts";

/** Parses `a.b.c.d/n` into its address (a 32-bit number) and prefix, or says what is wrong. */
export function parseCidr(text: string): { address: number; prefix: number } | string {
  const [ip, bits] = text.split("/");
  const octets = ip.split(".");
  for (const o of octets) {
    if (o.length > 1 && o.startsWith("0")) return `the octet ${o} has a leading zero`;
    if (Number(o) > 255) return `the octet ${o} is over 255`;
  }
  const prefix = Number(bits);
  if (prefix > 32) return `the prefix /${bits} is over 32`;
  const address = octets.reduce((a, o) => a * 256 + Number(o), 0);
  return { address, prefix };
}

function dotted(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** Reports a subnet Docker would refuse, or one too small for the stack. */
export function networkSubnet(ctx: RuleContext): Diagnostic[] {
  const subnet = ctx.spec.network.subnet;
  if (subnet === undefined) return [];
  const where = ["network", "subnet"];
  const parsed = parseCidr(subnet);
  const expected = "a CIDR such as 172.28.0.0/16";
  if (typeof parsed === "string") {
    return [at(ctx, where, `invalid subnet "${subnet}": ${parsed}`, {
      target: "value",
      expected,
      hint: "write four numbers of 0-255 and a prefix of 0-32, e.g. 172.28.0.0/16",
    })];
  }
  const size = 2 ** (32 - parsed.prefix);
  const network = Math.floor(parsed.address / size) * size;
  if (network !== parsed.address) {
    return [at(ctx, where, `subnet "${subnet}" has host bits set, which Docker refuses`, {
      target: "value",
      expected: `the network's own address, ${dotted(network)}/${parsed.prefix}`,
      hint: `write ${dotted(network)}/${parsed.prefix}`,
    })];
  }
  // the network and broadcast addresses and the gateway take three
  const containers = Object.keys(ctx.spec.services).length + Object.keys(ctx.spec.workers).length +
    Object.keys(RESERVED_NAMES).length;
  if (size - 3 < containers) {
    return [at(ctx, where, `subnet "${subnet}" has room for ${Math.max(0, size - 3)} containers`, {
      target: "value",
      expected: `room for the stack's up to ${containers} containers`,
      hint: "use a shorter prefix, such as /24",
    })];
  }
  return [];
}
