/**
 * Hints: "did you mean ...?" suggestions by edit distance, shared by the
 * schema validation (unknown keys, bad enum values, bad kinds) and the
 * cross-field rules (names that do not exist).
 *
 * @module
 */

/**
 * The Damerau-Levenshtein (optimal string alignment) distance between two
 * strings: insertions, deletions, substitutions and swaps of two adjacent
 * characters each cost 1.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Rows i-2, i-1 and i of the distance matrix.
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, prev2[j - 2] + 1);
      }
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `word` (case-insensitively), if it is close
 * enough to be a likely typo: one edit for words of up to 4 characters, two
 * for longer ones, or the same apart from `-`, `_` and spaces. Ties go to
 * the first candidate in sorted order, so the answer is deterministic.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const norm = (s: string) => s.toLowerCase().replace(/[-_ ]/g, "");
  const limit = w.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of [...new Set(candidates)].sort()) {
    if (c === word) continue;
    const d = norm(c) === norm(word) ? 0 : editDistance(w, c.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** `did you mean \`x\`?` when a candidate is close to `word`, else undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : `did you mean \`${c}\`?`;
}

/** Lists names for a message: `a, b, c` (in the given order, at most `max`, then `...`). */
export function listNames(names: Iterable<string>, max = 12): string {
  const all = [...new Set(names)];
  return all.length > max ? `${all.slice(0, max).join(", ")}, ...` : all.join(", ");
}

/** `a` or `an`, by the sound of the word's first letter (`an ollama service`). */
export function article(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}
