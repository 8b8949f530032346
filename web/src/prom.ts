// Prometheus text (GET /metrics) for the monitoring page: samples by name and labels, and request
// rates from two scrapes.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    labels[match[1]] = match[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0) {
      const close = line.lastIndexOf('}');
      if (close < brace) continue;
      name = line.slice(0, brace);
      labels = parseLabels(line.slice(brace + 1, close));
      rest = line.slice(close + 1).trim();
    } else {
      const space = line.indexOf(' ');
      if (space < 0) continue;
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const value = Number(rest.split(/\s+/)[0]);
    if (rest && !Number.isNaN(value)) samples.push({ name, labels, value });
  }
  return samples;
}

/** Sum of every sample named `name` whose labels include `match`. */
export function total(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/**
 * Per-second rates of a counter between two scrapes, grouped by one label (e.g. `route`),
 * highest first. A counter that went down (a restart) counts from zero.
 */
export function ratesBy(
  before: Sample[],
  after: Sample[],
  name: string,
  label: string,
  seconds: number,
): { key: string; rate: number }[] {
  if (!(seconds > 0)) return [];
  const sum = (samples: Sample[]) => {
    const map = new Map<string, number>();
    for (const s of samples) {
      if (s.name !== name) continue;
      const key = s.labels[label] ?? '';
      map.set(key, (map.get(key) ?? 0) + s.value);
    }
    return map;
  };
  const old = sum(before);
  const rates: { key: string; rate: number }[] = [];
  for (const [key, value] of sum(after)) {
    const previous = old.get(key) ?? 0;
    const delta = value >= previous ? value - previous : value;
    rates.push({ key, rate: delta / seconds });
  }
  return rates.sort((a, b) => b.rate - a.rate || a.key.localeCompare(b.key));
}
