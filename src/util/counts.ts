/** How many places each key holds: keys at zero are dropped, so the map only grows with what is held now. */
export class Counts<K> {
  private readonly held = new Map<K, number>();

  of(key: K): number {
    return this.held.get(key) ?? 0;
  }

  add(key: K): void {
    this.held.set(key, this.of(key) + 1);
  }

  /** Gives back one place of `key`. */
  remove(key: K): void {
    const left = this.of(key) - 1;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
  }
}
