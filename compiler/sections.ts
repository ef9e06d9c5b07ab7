/**
 * The spec's top-level sections, each checked on its own, so that the
 * cross-field rules can run on every section that is structurally valid
 * even when another one is not (one run reports every problem).
 *
 * @module
 */
import type { z } from "zod";
import { Spec, SpecFile } from "./schema.ts";
import { isPlainObject } from "./profile.ts";

/** A top-level key of the spec (`services`, `messaging`, ...). */
export type Section = keyof Spec;

/** Every section, in the schema's order. */
export const SECTIONS = Object.keys(Spec.shape) as Section[];

/** The sections of one profile that passed their schema, parsed. */
export interface ValidSections {
  /** The parsed value of each valid section (defaults applied). */
  spec: Partial<Spec>;
  /** The sections that are valid, both as written and with the profile applied. */
  valid: ReadonlySet<Section>;
}

function sectionSchema(root: z.ZodObject, section: Section): z.ZodType {
  return (root.shape as Record<string, z.ZodType>)[section];
}

/**
 * Checks each section of a profile-merged value on its own. A section is
 * valid when it passes both in the file as written (`raw`, whose base values
 * must be valid even where an overlay replaces them) and merged. Never throws.
 */
export function validSections(raw: unknown, merged: unknown): ValidSections {
  const spec: Record<string, unknown> = {};
  const valid = new Set<Section>();
  if (!isPlainObject(raw) || !isPlainObject(merged)) return { spec: {}, valid };
  for (const section of SECTIONS) {
    const asWritten = sectionSchema(SpecFile, section).safeParse(raw[section]);
    const parsed = sectionSchema(Spec, section).safeParse(merged[section]);
    if (!asWritten.success || !parsed.success) continue;
    spec[section] = parsed.data;
    valid.add(section);
  }
  return { spec: spec as Partial<Spec>, valid };
}

/** `spec` with only the named sections (the others are absent at run time). */
export function pickSections(spec: Partial<Spec>, sections: readonly Section[]): Spec {
  const out: Record<string, unknown> = {};
  for (const s of sections) if (s in spec) out[s] = spec[s];
  return out as Spec;
}
