/** Percentiles of recent samples, in ms. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** How many samples these figures come from (the most recent ones, at most the window). */
  samples: number;
}

/**
 * The most recent samples in a fixed ring, so recording is O(1) with no allocation on the hot
 * path; percentiles are computed only when somebody asks for stats.
 */
export class SampleWindow {
  readonly #values: Float64Array;
  #next = 0;
  #count = 0;

  constructor(size = 4096) {
    this.#values = new Float64Array(size);
  }

  record(value: number): void {
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#values.length;
    if (this.#count < this.#values.length) this.#count++;
  }

  percentiles(): Percentiles {
    if (this.#count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, samples: 0 };
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return {
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: round(sorted[sorted.length - 1]!),
      samples: this.#count,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
