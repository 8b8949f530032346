// The growth charts of a cluster, from what the API keeps: synapses over samples trained from
// the cluster's checkpoints and from live readings taken while the page is open; accuracy over
// samples trained from its finished request tasks, each placed at the samples the cluster's
// training tasks had done when the request started.
import type { Task } from './types';

export interface Point {
  samples: number;
  value: number;
}

/** Adds a point, keeping one value per sample count (the latest) and the list sorted. */
export function addPoint(points: Point[], point: Point): Point[] {
  const rest = points.filter((p) => p.samples !== point.samples);
  rest.push(point);
  return rest.sort((a, b) => a.samples - b.samples);
}

/**
 * Samples trained before `request` started: the samples_done of this cluster's train tasks that
 * ended (finished or cancelled) no later than the request task started (or was created).
 */
export function samplesBefore(tasks: Task[], request: Task & { started_at?: string | null }): number {
  const start = Date.parse(request.started_at ?? request.created_at);
  return tasks
    .filter(
      (t) =>
        t.type === 'train' &&
        t.cluster_id === request.cluster_id &&
        (t.state === 'finished' || t.state === 'cancelled') &&
        t.finished_at !== null &&
        Date.parse(t.finished_at) <= start,
    )
    .reduce((sum, t) => sum + t.samples_done, 0);
}

/** Two series over one x axis for uPlot: the union of x values, null where a series has none. */
export function align(a: Point[], b: Point[]): (number | null)[][] {
  const xs = [...new Set([...a.map((p) => p.samples), ...b.map((p) => p.samples)])].sort((x, y) => x - y);
  const byX = (points: Point[]) => new Map(points.map((p) => [p.samples, p.value]));
  const ma = byX(a);
  const mb = byX(b);
  return [xs, xs.map((x) => ma.get(x) ?? null), xs.map((x) => mb.get(x) ?? null)];
}

// Live readings of synapses per cluster, kept while the dashboard is open (the clusters and
// tasks pages add to it; the cluster page draws it).
const liveSynapses = new Map<string, Point[]>();

export function recordSynapses(clusterId: string, samples: number, synapses: number): Point[] {
  const points = addPoint(liveSynapses.get(clusterId) ?? [], { samples, value: synapses });
  liveSynapses.set(clusterId, points);
  return points;
}
