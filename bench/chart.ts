/**
 * The SVG chart of bench/results/latest.svg: throughput against direct, per scenario and proxy target, as
 * horizontal bars around a line at 1× (direct). Hand-written SVG: no chart library for one picture.
 */

export interface ChartBar {
  scenario: string;
  target: string;
  /** Throughput × direct; undefined when the row failed. */
  ratio: number | undefined;
}

const WIDTH = 760;
const LABEL_WIDTH = 110;
const TARGET_WIDTH = 110;
const BAR_HEIGHT = 14;
const BAR_GAP = 3;
const GROUP_GAP = 14;
const TOP = 46;
const RIGHT = 60;
/** One colour per target, in the order they first appear; the Okabe–Ito palette reads for colour-blind eyes. */
const COLOURS = ["#0072B2", "#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#F0E442", "#999999"];

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function text(x: number, y: number, content: string, attributes = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attributes === "" ? "" : ` ${attributes}`}>${escape(content)}</text>`;
}

/** `notes` are lines under the title (when, where, how to read it). */
export function ratioChart(bars: readonly ChartBar[], title: string, notes: readonly string[]): string {
  const scenarios = [...new Set(bars.map((bar) => bar.scenario))];
  const targets = [...new Set(bars.map((bar) => bar.target))];
  const colour = (target: string): string => COLOURS[targets.indexOf(target) % COLOURS.length] ?? "#999999";
  const maxRatio = Math.max(1.25, ...bars.map((bar) => bar.ratio ?? 0));
  // Round the scale up to a quarter so that its grid lines fall on readable values.
  const scaleMax = Math.ceil(maxRatio * 4) / 4;
  const plotLeft = LABEL_WIDTH + TARGET_WIDTH;
  const plotWidth = WIDTH - plotLeft - RIGHT;
  const x = (ratio: number): number => plotLeft + (ratio / scaleMax) * plotWidth;
  const groupHeight = targets.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP;
  const top = TOP + notes.length * 16;
  const height = top + scenarios.length * (groupHeight + GROUP_GAP) + 36;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(12, 22, title, 'font-size="15" font-weight="600" fill="#222"'),
    ...notes.map((line, index) => text(12, 40 + index * 16, line, 'fill="#555"')),
  ];
  const plotBottom = height - 30;
  // Grid lines every quarter, labelled every half; 1× (direct) drawn strongest.
  for (let tick = 0; tick <= scaleMax + 1e-9; tick += 0.25) {
    const at = x(tick);
    const isOne = Math.abs(tick - 1) < 1e-9;
    parts.push(
      `<line x1="${at.toFixed(1)}" y1="${top - 8}" x2="${at.toFixed(1)}" y2="${plotBottom}" stroke="${isOne ? "#333" : "#e3e3e3"}" stroke-width="${isOne ? 1.5 : 1}"${isOne ? ' stroke-dasharray="4 3"' : ""}/>`,
    );
    if (Math.abs(tick * 2 - Math.round(tick * 2)) < 1e-9)
      parts.push(
        text(at, plotBottom + 14, `${tick.toFixed(tick % 1 === 0 ? 0 : 1)}×`, 'text-anchor="middle" fill="#555"'),
      );
  }
  parts.push(text(x(1) + 4, top - 12, "direct = 1×", 'fill="#333"'));
  parts.push(
    text(
      plotLeft + plotWidth / 2,
      plotBottom + 28,
      "throughput × direct (higher is better)",
      'text-anchor="middle" fill="#333"',
    ),
  );

  let y = top;
  for (const scenario of scenarios) {
    parts.push(text(12, y + groupHeight / 2 + 4, scenario, 'font-weight="600" fill="#222"'));
    for (const target of targets) {
      const bar = bars.find((candidate) => candidate.scenario === scenario && candidate.target === target);
      parts.push(text(LABEL_WIDTH, y + BAR_HEIGHT - 3, target, 'fill="#333"'));
      if (bar?.ratio === undefined || !Number.isFinite(bar.ratio)) {
        parts.push(text(plotLeft + 4, y + BAR_HEIGHT - 3, bar === undefined ? "not run" : "failed", 'fill="#b00"'));
      } else {
        const width = Math.max(1, x(bar.ratio) - plotLeft);
        parts.push(
          `<rect x="${plotLeft}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colour(target)}"><title>${escape(`${scenario} / ${target}: ${bar.ratio.toFixed(2)}× direct`)}</title></rect>`,
        );
        parts.push(text(plotLeft + width + 4, y + BAR_HEIGHT - 3, `${bar.ratio.toFixed(2)}×`, 'fill="#333"'));
      }
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP - BAR_GAP;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
