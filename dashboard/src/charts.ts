// The six rate charts (uPlot, loaded as a classic script before this module). Each keeps no data of its own: the
// page holds the last 15 minutes of samples and every chart redraws from them once a second.
import type UPlot from "uplot";
import type { RateSample } from "./types.js";

declare global {
  interface Window {
    uPlot: typeof UPlot;
  }
}

const COLOURS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];
const HEIGHT = 170;
export const HISTORY_SAMPLES = 900;

type Pick = (sample: RateSample) => Record<string, number>;

class RateChart {
  private plot: UPlot | undefined;
  private keys: string[];

  constructor(
    private readonly figure: HTMLElement,
    private readonly pick: Pick,
    fixed: readonly string[],
    private readonly dynamic: boolean,
  ) {
    this.keys = [...fixed];
  }

  draw(samples: readonly RateSample[]): void {
    if (this.dynamic) {
      const seen = new Set(this.keys);
      for (const sample of samples) for (const key of Object.keys(this.pick(sample))) seen.add(key);
      const keys = [...seen].sort();
      if (keys.join() !== this.keys.join()) {
        this.keys = keys;
        this.plot?.destroy();
        this.plot = undefined;
      }
    }
    this.showNow(samples[samples.length - 1]);
    const data: UPlot.AlignedData = [
      samples.map((sample) => sample.t / 1000),
      ...this.keys.map((key) => samples.map((sample) => this.pick(sample)[key] ?? 0)),
    ];
    if (this.plot === undefined) {
      this.plot = new window.uPlot(this.options(), data, this.figure);
      return;
    }
    this.plot.setData(data);
  }

  /** The latest second's figures beside the title: readable without hovering, and by a screen reader. */
  private showNow(sample: RateSample | undefined): void {
    let now = this.figure.querySelector<HTMLElement>(".now");
    if (now === null) {
      now = document.createElement("span");
      now.className = "now";
      this.figure.querySelector("figcaption")?.append(now);
    }
    const values = sample === undefined ? {} : this.pick(sample);
    const text = this.keys.map((key) => `${key} ${values[key] ?? 0}`).join(" · ");
    now.textContent = text === "" ? "" : ` now: ${text}`;
  }

  resize(): void {
    this.plot?.setSize({ width: this.width(), height: HEIGHT });
  }

  private width(): number {
    return Math.max(200, this.figure.clientWidth);
  }

  private options(): UPlot.Options {
    return {
      width: this.width(),
      height: HEIGHT,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        ...this.keys.map((key, index) => ({
          label: key,
          stroke: COLOURS[index % COLOURS.length] ?? "#000",
          width: 1.5,
          points: { show: false },
        })),
      ],
    };
  }
}

/** Every chart of the page, fed the same samples. */
export class Charts {
  private readonly samples: RateSample[] = [];
  private readonly charts: RateChart[];

  constructor(find: (id: string) => HTMLElement) {
    const direction = (inbound: number, outbound: number): Record<string, number> => ({
      "client→backend": inbound,
      "backend→client": outbound,
    });
    this.charts = [
      new RateChart(
        find("chart-messages"),
        (s) => direction(s.messagesIn, s.messagesOut),
        ["client→backend", "backend→client"],
        false,
      ),
      new RateChart(
        find("chart-bytes"),
        (s) => direction(s.bytesIn, s.bytesOut),
        ["client→backend", "backend→client"],
        false,
      ),
      new RateChart(find("chart-handshakes"), (s) => s.handshakes, ["accepted", "rejected", "failed"], false),
      new RateChart(find("chart-closes"), (s) => s.closes, [], true),
      new RateChart(find("chart-refusals"), (s) => s.refusals, [], true),
      new RateChart(find("chart-refusal-reasons"), (s) => s.refusalReasons ?? {}, [], true),
    ];
    window.addEventListener("resize", () => {
      for (const chart of this.charts) chart.resize();
    });
  }

  history(samples: readonly RateSample[]): void {
    this.samples.length = 0;
    this.samples.push(...samples.slice(-HISTORY_SAMPLES));
    this.draw();
  }

  add(sample: RateSample): void {
    this.samples.push(sample);
    if (this.samples.length > HISTORY_SAMPLES) this.samples.shift();
    this.draw();
  }

  private draw(): void {
    if (typeof window.uPlot !== "function") return;
    for (const chart of this.charts) chart.draw(this.samples);
  }
}
