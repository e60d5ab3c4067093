/**
 * A set of objects as a doubly linked list, for members that come and go all the time (live sessions, requests in
 * flight): add, has and delete are O(1), iteration follows insertion order.
 *
 * Why not a `Set`: V8 keeps a Set's members in a hash table that it replaces with a new one as deletions pile up,
 * and a long-lived Set's tables live in the old generation. A replaced table keeps pointing at the members it held
 * until the next full collection, so every young-generation collection finds them alive and promotes them, with
 * all they reference (sockets, relays, closures): measured on the handshake bench, half of all old-generation
 * garbage. Here a member's link is dropped the moment it leaves, so nothing outlives its membership.
 *
 * A member can be in several LinkedSets at once: each set keeps its links on the member under two symbols of its
 * own (the member before and after it), not in a node object: 16 B per set and member where a node took 56 B.
 */
type Link<T> = T | null | undefined;
type Linkable<T> = Record<symbol, Link<T>>;

export class LinkedSet<T extends object> implements Iterable<T> {
  /** The member before, or null for the first; undefined when not a member. */
  readonly #previous = Symbol("LinkedSet previous");
  /** The member after, or null for the last. */
  readonly #next = Symbol("LinkedSet next");
  #first: T | null = null;
  #last: T | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(value: T): boolean {
    return (value as unknown as Linkable<T>)[this.#previous] !== undefined;
  }

  /** Adds `value` at the end; false when it is a member already. */
  add(value: T): boolean {
    const links = value as unknown as Linkable<T>;
    if (links[this.#previous] !== undefined) return false;
    const last = this.#last;
    links[this.#previous] = last;
    links[this.#next] = null;
    if (last === null) this.#first = value;
    else (last as unknown as Linkable<T>)[this.#next] = value;
    this.#last = value;
    this.#size++;
    return true;
  }

  /** Removes `value`; false when it was not a member. */
  delete(value: T): boolean {
    const links = value as unknown as Linkable<T>;
    const previous = links[this.#previous];
    if (previous === undefined) return false;
    const next = links[this.#next] as T | null;
    if (previous === null) this.#first = next;
    else (previous as unknown as Linkable<T>)[this.#next] = next;
    if (next === null) this.#last = previous;
    else (next as unknown as Linkable<T>)[this.#previous] = previous;
    // Unlinked both ways: a member promoted to the old generation must not keep younger ones alive after it.
    links[this.#previous] = undefined;
    links[this.#next] = undefined;
    this.#size--;
    return true;
  }

  /** The members now, in insertion order (a copy: members may come and go while the caller goes through them). */
  [Symbol.iterator](): Iterator<T> {
    const members: T[] = [];
    for (
      let member = this.#first;
      member !== null;
      member = (member as unknown as Linkable<T>)[this.#next] as T | null
    ) {
      members.push(member);
    }
    return members[Symbol.iterator]();
  }
}
