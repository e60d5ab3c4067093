// Fast 32-bit string hash for consistent hashing: FNV-1a over UTF-16 code units, then murmur3's finalizer.

/** Hashes `text` from `start` on; the finalizer spreads FNV-1a's weak low bits so similar keys land far apart. */
export function hash32(text: string, start = 0): number {
  let hash = 0x811c9dc5;
  for (let index = start; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
