/**
 * Draws benchmark results as an SVG bar chart: one panel per measure, one
 * horizontal bar per contender, each labelled with its value and its ratio
 * to the best peer. A panel whose values span more than `LOG_THRESHOLD`
 * uses a log scale (and says so). Pure: data in, SVG text out.
 *
 * @module
 */

/** Ranges wider than this ratio get a log scale. */
export const LOG_THRESHOLD = 20;

/** What a bar stands for: ours, a peer users would pick, or a ceiling. */
export type BarKind = "ours" | "peer" | "ceiling";

/** One bar. */
export interface Bar {
  label: string;
  value: number;
  kind: BarKind;
}

/** One measure: bars compared with each other. */
export interface Panel {
  title: string;
  /** Unit printed after values, such as "ops/s" or "req/s". */
  unit: string;
  bars: Bar[];
}

/** The whole chart. */
export interface Chart {
  title: string;
  subtitle: string;
  panels: Panel[];
}

const WIDTH = 960;
const LABEL_W = 330;
const BAR_W = 400;
const ROW_H = 18;
const PANEL_HEAD = 26;
const PANEL_GAP = 14;
const COLORS: Record<BarKind, string> = {
  ours: "#2563eb",
  peer: "#9ca3af",
  ceiling: "#e5e7eb",
};

/** The ratio of `value` to the best peer in `bars`, or undefined. */
export function ratioToBestPeer(
  bars: Bar[],
  value: number,
): number | undefined {
  const peers = bars.filter((b) => b.kind === "peer" && b.value > 0);
  if (peers.length === 0) return undefined;
  return value / Math.max(...peers.map((b) => b.value));
}

/** Whether a panel's positive values span more than `LOG_THRESHOLD`. */
export function usesLogScale(bars: Bar[]): boolean {
  const values = bars.map((b) => b.value).filter((v) => v > 0);
  if (values.length < 2) return false;
  return Math.max(...values) / Math.min(...values) > LOG_THRESHOLD;
}

/** Renders the chart as a standalone SVG document. */
export function renderChart(chart: Chart): string {
  const parts: string[] = [];
  let y = 58;
  for (const panel of chart.panels) {
    parts.push(renderPanel(panel, y));
    y += PANEL_HEAD + panel.bars.length * ROW_H + PANEL_GAP;
  }
  const height = y + 24;
  const legend = (["ours", "peer", "ceiling"] as const).map((kind, i) => {
    const x = 20 + i * 190;
    const name = { ours: "BuntStore", peer: "peer", ceiling: "ceiling" }[kind];
    return `<rect x="${x}" y="${height - 20}" width="12" height="12" ` +
      `fill="${COLORS[kind]}" stroke="#6b7280" stroke-width="0.5"/>` +
      `<text x="${x + 18}" y="${height - 10}">${name}</text>`;
  }).join("");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" ` +
    `height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
    `font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="20" y="26" font-size="18" font-weight="bold">` +
    `${esc(chart.title)}</text>`,
    `<text x="20" y="44" fill="#4b5563">${esc(chart.subtitle)}</text>`,
    ...parts,
    legend,
    `</svg>`,
    "",
  ].join("\n");
}

function renderPanel(panel: Panel, top: number): string {
  const log = usesLogScale(panel.bars);
  const values = panel.bars.map((b) => b.value).filter((v) => v > 0);
  const max = values.length > 0 ? Math.max(...values) : 1;
  // The smallest bar on a log scale still gets a sliver of length.
  const floor = values.length > 0 ? Math.min(...values) / 2 : 1;
  const scale = (v: number): number => {
    if (!(v > 0)) return 0;
    if (!log) return (v / max) * BAR_W;
    return (Math.log(v / floor) / Math.log(max / floor)) * BAR_W;
  };
  const out = [
    `<text x="20" y="${top + 16}" font-weight="bold">${esc(panel.title)}` +
    `<tspan font-weight="normal" fill="#6b7280"> (${esc(panel.unit)}` +
    `${log ? ", log scale" : ""}; ratio to the best peer)</tspan></text>`,
  ];
  panel.bars.forEach((bar, i) => {
    const y = top + PANEL_HEAD + i * ROW_H;
    const w = Math.max(1, scale(bar.value));
    const ratio = ratioToBestPeer(panel.bars, bar.value);
    const ratioText = ratio === undefined ? "" : `  ×${fmtRatio(ratio)}`;
    out.push(
      `<text x="${LABEL_W - 8}" y="${y + 12}" text-anchor="end">` +
        `${esc(bar.label)}</text>`,
      `<rect x="${LABEL_W}" y="${y + 2}" width="${w.toFixed(1)}" ` +
        `height="${ROW_H - 5}" fill="${COLORS[bar.kind]}" ` +
        `stroke="#6b7280" stroke-width="0.5"/>`,
      `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + 12}" ` +
        `fill="#111827">${esc(fmtValue(bar.value))}` +
        `<tspan fill="#6b7280">${esc(ratioText)}</tspan></text>`,
    );
  });
  return out.join("\n");
}

/** Formats a measured value with k/M suffixes. */
export function fmtValue(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (v >= 10) return v.toFixed(0);
  return v.toFixed(2);
}

function fmtRatio(r: number): string {
  if (r >= 10) return r.toFixed(0);
  if (r >= 1) return r.toFixed(1);
  return r.toFixed(2);
}

function esc(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}
