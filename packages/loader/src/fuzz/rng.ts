/**
 * A small seeded PRNG (splitmix64 folded to 32 bits) so that every fuzz case is reproducible from
 * one printed number: the run seed and the case index derive the case seed, the case seed drives
 * every choice the mutators make.
 */

/** Deterministic random source for one fuzz case. */
export class Rng {
  private state: bigint;

  constructor(seed: number | bigint) {
    this.state = BigInt.asUintN(64, BigInt(seed));
  }

  /** Next 32-bit unsigned value. */
  u32(): number {
    this.state = BigInt.asUintN(64, this.state + 0x9e3779b97f4a7c15n);
    let z = this.state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z = z ^ (z >> 31n);
    return Number(z & 0xffffffffn);
  }

  /** Integer in [0, n). `n` must be positive. */
  below(n: number): number {
    if (n <= 0) return 0;
    return this.u32() % n;
  }

  /** Integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }
}

/** The seed of case `index` of a run seeded with `runSeed`: printed with every failure, replayable alone. */
export function caseSeed(runSeed: number, index: number): number {
  const r = new Rng((BigInt(runSeed >>> 0) << 32n) | BigInt(index >>> 0));
  return r.u32();
}
