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
 * A member can be in several LinkedSets at once: each set keeps its node under a symbol of its own.
 */
interface LinkNode<T> {
  value: T | undefined;
  previous: LinkNode<T> | undefined;
  next: LinkNode<T> | undefined;
}

type Linkable<T> = Record<symbol, LinkNode<T> | undefined>;

export class LinkedSet<T extends object> implements Iterable<T> {
  readonly #slot = Symbol("LinkedSet node");
  #first: LinkNode<T> | undefined;
  #last: LinkNode<T> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  #nodeOf(value: T): LinkNode<T> | undefined {
    return (value as unknown as Linkable<T>)[this.#slot];
  }

  has(value: T): boolean {
    return this.#nodeOf(value) !== undefined;
  }

  /** Adds `value` at the end; false when it is a member already. */
  add(value: T): boolean {
    if (this.#nodeOf(value) !== undefined) return false;
    const node: LinkNode<T> = { value, previous: this.#last, next: undefined };
    if (this.#last === undefined) this.#first = node;
    else this.#last.next = node;
    this.#last = node;
    (value as unknown as Linkable<T>)[this.#slot] = node;
    this.#size++;
    return true;
  }

  /** Removes `value`; false when it was not a member. */
  delete(value: T): boolean {
    const node = this.#nodeOf(value);
    if (node === undefined) return false;
    if (node.previous === undefined) this.#first = node.next;
    else node.previous.next = node.next;
    if (node.next === undefined) this.#last = node.previous;
    else node.next.previous = node.previous;
    // Unlinked both ways: a node promoted to the old generation must not keep younger ones alive after it.
    node.value = undefined;
    node.previous = undefined;
    node.next = undefined;
    (value as unknown as Linkable<T>)[this.#slot] = undefined;
    this.#size--;
    return true;
  }

  /** The members now, in insertion order (a copy: members may come and go while the caller goes through them). */
  [Symbol.iterator](): Iterator<T> {
    const members: T[] = [];
    for (let node = this.#first; node !== undefined; node = node.next) members.push(node.value as T);
    return members[Symbol.iterator]();
  }
}
