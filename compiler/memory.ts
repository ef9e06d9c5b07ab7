/**
 * Memory sizes as the spec and Compose write them (`512m`, `2g`, `6144k`;
 * binary units), in bytes: one parser for the rules and the emitters.
 *
 * @module
 */

const UNIT_BYTES = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;

/**
 * `512m` → 536870912. Throws a `RangeError` for anything else; validate first
 * (the schema's `MemorySize` accepts exactly what this parses).
 */
export function memoryBytes(size: string): number {
  const m = /^([0-9]+)([kmg])$/.exec(size);
  if (!m) throw new RangeError(`not a memory size: ${size}`);
  return Number(m[1]) * UNIT_BYTES[m[2] as keyof typeof UNIT_BYTES];
}
