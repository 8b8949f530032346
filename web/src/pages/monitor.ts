// Host monitoring: load, CPU frequency, temperature and power (GET /api/v1/system/host; null
// where the host does not offer a figure) and request rates by route from /metrics.
import { LineChart } from '../chart';
import { h, replace, table } from '../dom';
import { formatBytes, formatDuration, formatRate } from '../format';
import type { Context } from '../main';
import { parseMetrics, ratesBy, total, type Sample } from '../prom';
import { message, poll, section } from './common';

interface Host {
  load: { '1m': number | null; '5m': number | null; '15m': number | null };
  cpus: number;
  cpu_mhz: number[] | null;
  temperature_c: number | null;
  power_w: number | null;
  memory_total_bytes: number | null;
  memory_available_bytes: number | null;
  uptime_s: number | null;
}

const HISTORY = 90;

const shown = (value: number | null | undefined, unit: string, digits = 1) =>
  value === null || value === undefined ? 'not available on this host' : `${value.toFixed(digits)} ${unit}`;

export async function monitorPage(ctx: Context, root: HTMLElement): Promise<() => void> {
  root.appendChild(h('h1', null, 'Host'));
  const figures = h('div', { id: 'host-figures' });
  const rates = h('div', { id: 'request-rates' });
  const chart = new LineChart('Load and requests', 'seconds', [
    { label: 'load 1m', color: '#c05621', scale: 'load' },
    { label: 'requests/s', color: '#2b6cb0', scale: 'rps' },
  ]);
  root.append(section('This host', figures), section('Request rates (last interval)', rates), section('History', chart.element));
  const t0 = performance.now();
  const xs: number[] = [];
  const loads: (number | null)[] = [];
  const rps: (number | null)[] = [];
  let previous: { samples: Sample[]; at: number } | null = null;

  const tick = async () => {
    const [host, text] = await Promise.all([
      ctx.api.get<Host>('/api/v1/system/host'),
      ctx.api.call<string>('GET', '/metrics'),
    ]);
    const samples = parseMetrics(text);
    const now = performance.now();
    const mhz = host.cpu_mhz;
    const memory =
      host.memory_total_bytes !== null && host.memory_available_bytes !== null
        ? `${formatBytes(host.memory_total_bytes - host.memory_available_bytes)} used of ${formatBytes(host.memory_total_bytes)}`
        : 'not available on this host';
    replace(
      figures,
      table(
        ['Figure', 'Now'],
        [
          ['CPU load (1, 5, 15 min)', [host.load['1m'], host.load['5m'], host.load['15m']].map((v) => (v === null ? '—' : v.toFixed(2))).join(' · ') + ` on ${host.cpus} CPUs`],
          ['CPU frequency', mhz && mhz.length ? `${(mhz.reduce((a, b) => a + b, 0) / mhz.length).toFixed(0)} MHz mean (${Math.min(...mhz).toFixed(0)}–${Math.max(...mhz).toFixed(0)})` : 'not available on this host'],
          ['Temperature', shown(host.temperature_c, '°C')],
          ['Power', shown(host.power_w, 'W')],
          ['Memory', memory],
          ['Uptime', formatDuration(host.uptime_s)],
          ['Open WebSockets', String(total(samples, 'tendril_websocket_open_connections'))],
          ['Requests answered', String(total(samples, 'tendril_http_requests_total'))],
        ],
      ),
    );
    let perSecond: number | null = null;
    if (previous) {
      const seconds = (now - previous.at) / 1000;
      const byRoute = ratesBy(previous.samples, samples, 'tendril_http_requests_total', 'route', seconds);
      perSecond = byRoute.reduce((sum, r) => sum + r.rate, 0);
      replace(rates, table(['Route', 'Requests/s'], byRoute.filter((r) => r.rate > 0).map((r) => [r.key || '(no route)', formatRate(r.rate, '/s')]), 'No requests in the last interval.'));
    }
    previous = { samples, at: now };
    xs.push(Math.round((now - t0) / 100) / 10);
    loads.push(host.load['1m']);
    rps.push(perSecond);
    if (xs.length > HISTORY) [xs, loads, rps].forEach((series) => series.shift());
    chart.update([xs, loads, rps]);
  };
  const pollMessage = message();
  root.appendChild(pollMessage);
  const stop = poll(2000, pollMessage, tick);
  return () => {
    stop();
    chart.destroy();
  };
}
