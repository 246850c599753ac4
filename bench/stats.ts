// Summaries of repeated measurements (min / median / max, percentiles) and the printed table.

export interface Summary {
  runs: number;
  min: number;
  median: number;
  max: number;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { runs: sorted.length, min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
}

export interface Row {
  section: string;
  metric: string;
  unit: string;
  summary: Summary;
  /** Human-readable target, and whether the median meets it (undefined where there is no target). */
  target?: string;
  pass?: boolean;
}

function fmt(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === 'MB' || unit === 'dB' || unit === '×') return value.toFixed(2);
  if (unit === 'SSIM') return value.toFixed(4);
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function table(rows: readonly Row[]): string {
  const head = ['#', 'metric', 'unit', 'runs', 'min', 'median', 'max', 'target', 'ok'];
  const body = rows.map((r) => [
    r.section,
    r.metric,
    r.unit,
    String(r.summary.runs),
    fmt(r.summary.min, r.unit),
    fmt(r.summary.median, r.unit),
    fmt(r.summary.max, r.unit),
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
