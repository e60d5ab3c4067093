/**
 * Round bookkeeping of the storm and wss:// scenarios: a figure's median over rounds with its spread (min–max),
 * and ratios taken round by round (a target against a reference measured in the same round), so that a busy
 * round moves both sides of a ratio together.
 */
import { median } from "./proc.js";

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Rounds that gave a figure. */
  count: number;
}

/** The median and range of the finite values; undefined when there is none. */
export function spreadOf(values: readonly (number | undefined)[]): Spread | undefined {
  const finite = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
  const middle = median(finite);
  if (middle === undefined) return undefined;
  return { median: middle, min: Math.min(...finite), max: Math.max(...finite), count: finite.length };
}

/** "1.23 [1.10–1.40]", or "—"; the range only when there were two rounds or more. */
export function spreadCell(spread: Spread | undefined, digits: number, suffix = ""): string {
  if (spread === undefined) return "—";
  const format = (value: number): string => value.toFixed(digits);
  const range = spread.count > 1 ? ` [${format(spread.min)}–${format(spread.max)}]` : "";
  return `${format(spread.median)}${suffix}${range}`;
}

/** One round's figure of one target: what the per-round ratios are taken from. */
export interface RoundFigure {
  round: number;
  target: string;
  value: number | undefined;
}

/** value(target) ÷ value(reference) for each round where both were measured (and the reference is not 0). */
export function roundRatios(figures: readonly RoundFigure[], target: string, reference: string): number[] {
  const ratios: number[] = [];
  for (const figure of figures) {
    if (figure.target !== target || figure.value === undefined) continue;
    const base = figures.find((other) => other.round === figure.round && other.target === reference)?.value;
    if (base === undefined || base === 0 || !Number.isFinite(base)) continue;
    ratios.push(figure.value / base);
  }
  return ratios;
}

/** The p-th percentile (nearest rank) of unsorted values; undefined for none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
