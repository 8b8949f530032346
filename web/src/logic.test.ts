import { describe, expect, it } from 'vitest';
import { argmax, barHeights, downsample, oneHot } from './digit';
import { formatBytes, formatDuration, formatPercent, formatRate } from './format';
import { addPoint, align, samplesBefore } from './growth';
import { parseMetrics, ratesBy, total } from './prom';
import type { Task } from './types';
import { assignParts, datasetNameFrom, remainingChunks, sha256Hex } from './upload';

describe('digit', () => {
  it('averages a drawing down to 28x28 values in 0..255', () => {
    const size = 56;
    const rgba = new Uint8ClampedArray(size * size * 4);
    // a white 2x2 block at the top-left of the source = one full output pixel
    for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const i = (y * size + x) * 4;
      rgba.set([255, 255, 255, 255], i);
    }
    // half of the next cell
    rgba.set([255, 255, 255, 255], (0 * size + 2) * 4);
    rgba.set([255, 255, 255, 255], (1 * size + 2) * 4);
    const out = downsample(rgba, size, size, 28);
    expect(out).toHaveLength(784);
    expect(out[0]).toBe(255);
    expect(out[1]).toBe(128);
    expect(out.slice(2).every((v) => v === 0)).toBe(true);
  });
  it('finds the answer and scales bars', () => {
    expect(argmax([0.1, 0.9, 0.9, 0.2])).toBe(1);
    expect(argmax([])).toBe(-1);
    expect(barHeights([0, 0.5, 1, -1])).toEqual([0, 0.5, 1, 0]);
    expect(barHeights([0, 0])).toEqual([0, 0]);
    expect(oneHot(3, 5)).toEqual([0, 0, 0, 1, 0]);
    expect(() => oneHot(10, 10)).toThrow(RangeError);
  });
});

describe('format', () => {
  it('formats sizes, durations, percentages and rates', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(0.29)).toBe('< 1 s');
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(null)).toBe('—');
    expect(formatPercent(0.8371, 2)).toBe('83.71 %');
    expect(formatRate(35712.4)).toBe('35,712 samples/s');
    expect(formatRate(12.34)).toBe('12.3 samples/s');
  });
});

describe('metrics', () => {
  const before = parseMetrics(`# HELP tendril_http_requests_total HTTP requests
# TYPE tendril_http_requests_total counter
tendril_http_requests_total{method="GET",route="/api/v1/clusters",status="200"} 10
tendril_http_requests_total{method="POST",route="/api/v1/tasks",status="201"} 2
tendril_websocket_open_connections 1
`);
  const after = parseMetrics(`tendril_http_requests_total{method="GET",route="/api/v1/clusters",status="200"} 30
tendril_http_requests_total{method="GET",route="/api/v1/clusters",status="404"} 2
tendril_http_requests_total{method="POST",route="/api/v1/tasks",status="201"} 2
tendril_http_requests_total{method="GET",route="a \\"quoted\\" route",status="200"} 4
`);
  it('parses samples with labels, escapes included', () => {
    expect(before).toHaveLength(3);
    expect(before[0]).toEqual({ name: 'tendril_http_requests_total', labels: { method: 'GET', route: '/api/v1/clusters', status: '200' }, value: 10 });
    expect(after[3].labels.route).toBe('a "quoted" route');
    expect(total(before, 'tendril_websocket_open_connections')).toBe(1);
    expect(total(after, 'tendril_http_requests_total', { method: 'GET' })).toBe(36);
  });
  it('computes rates by route between scrapes', () => {
    expect(ratesBy(before, after, 'tendril_http_requests_total', 'route', 2)).toEqual([
      { key: '/api/v1/clusters', rate: 11 },
      { key: 'a "quoted" route', rate: 2 },
      { key: '/api/v1/tasks', rate: 0 },
    ]);
    expect(ratesBy(before, after, 'tendril_http_requests_total', 'route', 0)).toEqual([]);
  });
});

describe('upload', () => {
  it('plans the chunks left after what the server received', () => {
    expect(remainingChunks(10, 0, 4)).toEqual([{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 10 }]);
    expect(remainingChunks(10, 6, 4)).toEqual([{ start: 6, end: 10 }]);
    expect(remainingChunks(10, 10, 4)).toEqual([]);
    expect(() => remainingChunks(10, 0, 0)).toThrow();
  });
  it('assigns files to parts', () => {
    expect(assignParts('idx', ['train-labels-idx1-ubyte.gz', 'train-images-idx3-ubyte.gz'])).toEqual({ parts: { labels: 0, images: 1 }, error: null });
    expect(assignParts('idx', ['a.gz']).error).toMatch(/two files/);
    expect(assignParts('csv', ['t.csv'])).toEqual({ parts: { table: 0 }, error: null });
    expect(assignParts('csv', ['a.csv', 'b.csv']).error).toMatch(/one file/);
  });
  it('hashes with SHA-256 and names datasets', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(datasetNameFrom('train-images-idx3-ubyte.gz')).toBe('train-images-idx3-ubyte');
    expect(datasetNameFrom('1 my data.csv')).toBe('my-data');
    expect(datasetNameFrom('x.csv')).toBe('data-x');
  });
});

describe('growth', () => {
  const task = (over: Partial<Task>): Task => ({
    id: 't', name: null, type: 'train', state: 'finished', cluster_id: 'c', dataset_id: 'd', epochs: 1, progress: 1,
    samples_done: 0, samples_total: 0, samples_per_second: null, eta_seconds: null, error: null,
    created_at: '2026-01-01T00:00:00.000Z', finished_at: null, result_id: null, ...over,
  });
  it('places a request after the training that ended before it', () => {
    const tasks = [
      task({ samples_done: 1000, finished_at: '2026-01-01T00:01:00.000Z' }),
      task({ samples_done: 500, finished_at: '2026-01-01T00:05:00.000Z' }),
      task({ samples_done: 700, cluster_id: 'other', finished_at: '2026-01-01T00:01:00.000Z' }),
      task({ samples_done: 300, state: 'failed', finished_at: '2026-01-01T00:01:00.000Z' }),
    ];
    const request = task({ type: 'request', created_at: '2026-01-01T00:02:00.000Z' });
    expect(samplesBefore(tasks, request)).toBe(1000);
  });
  it('keeps points sorted, one per x, and aligns two series', () => {
    let points = addPoint([], { samples: 10, value: 1 });
    points = addPoint(points, { samples: 5, value: 2 });
    points = addPoint(points, { samples: 10, value: 3 });
    expect(points).toEqual([{ samples: 5, value: 2 }, { samples: 10, value: 3 }]);
    expect(align(points, [{ samples: 7, value: 9 }])).toEqual([[5, 7, 10], [2, null, 3], [null, 9, null]]);
  });
});
