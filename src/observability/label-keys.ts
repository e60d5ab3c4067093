// Composite keys of label sets ("a\u0000b\u0000c"), each built once: a series is found at every event without a new
// key string (a template string, flattened again when the Map hashes it) or a closure per event.

/** Keys of two- or three-part label sets; the same parts give the same string every time. */
export class LabelKeys {
  readonly #keys = new Map<string, Map<string, Map<string | number | undefined, string>>>();

  /** The key of (a, b) or (a, b, c): `a\u0000b` or `a\u0000b\u0000c`. */
  of(a: string, b: string, c?: string | number): string {
    let byB = this.#keys.get(a);
    if (byB === undefined) {
      byB = new Map();
      this.#keys.set(a, byB);
    }
    let byC = byB.get(b);
    if (byC === undefined) {
      byC = new Map();
      byB.set(b, byC);
    }
    let key = byC.get(c);
    if (key === undefined) {
      key = c === undefined ? `${a}\u0000${b}` : `${a}\u0000${b}\u0000${c}`;
      byC.set(c, key);
    }
    return key;
  }

  /** Forgets every key (with the series they named: label sets no longer configured). */
  clear(): void {
    this.#keys.clear();
  }
}
