// Clusters: the list, creating one from a template with a live validation preview
// (POST /api/v1/templates/check as you type), and a cluster's details with growth charts.
import { LineChart } from '../chart';
import { errorBox, field, h, replace, table } from '../dom';
import { formatBytes, formatNumber, formatPercent, formatTime } from '../format';
import { addPoint, align, recordSynapses, samplesBefore, type Point } from '../growth';
import type { Context } from '../main';
import { errorMessage } from '../problem';
import type { Accuracy, Checkpoint, Cluster, Task } from '../types';
import { busy, link, message, needsProject, poll, section } from './common';

// A starting point: MNIST-sized inputs, a hidden brick, ten classes (templates/ has more).
export const EXAMPLE_TEMPLATE = `version: 1
settings:
    synapses_per_section: 48
    output_loss: cross_entropy
    learning_rate: 0.02
bricks:
    1,1,1
        input: pixels
        number_of_neurons: 784
    2,1,1
        number_of_neurons: 400
    3,1,1
        output: classes
        number_of_neurons: 10
`;

interface Check {
  inputs: { name: string; width: number }[];
  outputs: { name: string; width: number }[];
  bricks: number;
  neurons: number;
}

export async function clustersPage(ctx: Context, root: HTMLElement): Promise<() => void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Clusters'));
  const missing = needsProject(me);
  if (missing) root.appendChild(missing);
  const list = h('div', { id: 'cluster-list' });
  const listMessage = message();
  root.appendChild(section('Clusters of this project', list, listMessage));

  const name = h('input', { id: 'cluster-name', placeholder: 'e.g. digits' });
  const template = h('textarea', { id: 'cluster-template', rows: '16', spellcheck: 'false' });
  template.value = EXAMPLE_TEMPLATE;
  const preview = h('div', { id: 'template-preview', className: 'preview', 'aria-live': 'polite' });
  const msg = message();
  const create = h('button', { id: 'cluster-create' }, 'Create cluster');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;
  const check = async () => {
    const mine = ++generation;
    try {
      const result = await api.post<Check>('/api/v1/templates/check', { template: template.value });
      if (mine !== generation) return;
      const ports = (ps: Check['inputs']) => ps.map((p) => `${p.name} (${p.width})`).join(', ') || 'none';
      replace(
        preview,
        h(
          'div',
          { className: 'ok' },
          `Valid: ${result.bricks} bricks, ${formatNumber(result.neurons)} neurons; inputs ${ports(result.inputs)}; outputs ${ports(result.outputs)}`,
        ),
      );
    } catch (error) {
      if (mine === generation) replace(preview, errorBox(errorMessage(error)));
    }
  };
  template.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), 300);
  });
  create.onclick = () =>
    busy(create, msg, async () => {
      const cluster = await api.post<Cluster>('/api/v1/clusters', { name: name.value.trim(), template: template.value });
      ctx.navigate(`/clusters/${cluster.id}`);
    });
  root.appendChild(
    section('New cluster from a template', field('Name', name), field('Template (Hanami text or JSON)', template), preview, create, msg),
  );
  void check();

  const stop = poll(3000, listMessage, async () => {
    const clusters = await api.all<Cluster>('/api/v1/clusters');
    replace(
      list,
      table(
        ['Name', 'Inputs → outputs', 'Synapses', 'Samples trained', 'Memory', 'Created'],
        clusters.map((c) => [
          link(ctx, `/clusters/${c.id}`, c.name),
          `${c.inputs.map((p) => p.width).join('+')} → ${c.outputs.map((p) => p.width).join('+')}`,
          formatNumber(c.stats.synapses),
          formatNumber(c.stats.samples_trained),
          formatBytes(c.stats.bytes),
          formatTime(c.created_at),
        ]),
        'No clusters yet: create one below.',
      ),
    );
  });
  return () => {
    stop();
    clearTimeout(timer);
  };
}

export async function clusterPage(ctx: Context, root: HTMLElement, [id]: string[]): Promise<() => void> {
  const { api } = ctx;
  // An unknown or invisible cluster is only its error message, not an empty page around it.
  const first = await api.get<Cluster>(`/api/v1/clusters/${id}`);
  const title = h('h1', null, `Cluster ${first.name}`);
  const facts = h('div', { id: 'cluster-facts' });
  const msg = message();
  const synapseChart = new LineChart('Synapses over samples trained', 'samples', [{ label: 'synapses', color: '#2f855a' }]);
  const accuracyChart = new LineChart('Accuracy over samples trained', 'samples', [
    { label: 'accuracy %', color: '#2b6cb0' },
  ]);
  const rename = h('input', { id: 'cluster-rename', placeholder: 'new name' });
  const renameButton = h('button', null, 'Rename');
  const remove = h('button', { className: 'danger', id: 'cluster-delete' }, 'Delete cluster');
  root.append(
    title,
    section('Figures', facts, h('div', { className: 'row' }, rename, renameButton, remove), msg),
    section('Growth', h('div', { className: 'charts' }, synapseChart.element, accuracyChart.element)),
  );
  renameButton.onclick = () =>
    busy(renameButton, msg, async () => {
      await api.patch(`/api/v1/clusters/${id}`, { name: rename.value.trim() });
    });
  remove.onclick = () =>
    busy(remove, msg, async () => {
      if (!confirm('Delete this cluster? Its saved checkpoints stay.')) return;
      await api.delete(`/api/v1/clusters/${id}`);
      ctx.navigate('/clusters');
    });

  const accuracy = new Map<string, Point>(); // by result id: results do not change
  const tick = async () => {
    const cluster = await api.get<Cluster>(`/api/v1/clusters/${id}`);
    title.textContent = `Cluster ${cluster.name}`;
    const s = cluster.stats;
    replace(
      facts,
      table(
        ['Bricks', 'Neurons', 'Sections', 'Synapses', 'Samples trained', 'Memory', 'Active task'],
        [[s.bricks, formatNumber(s.neurons), formatNumber(s.sections), formatNumber(s.synapses), formatNumber(s.samples_trained), formatBytes(s.bytes), cluster.active_task_id ? 'running' : '—']],
      ),
    );
    const live = recordSynapses(id, s.samples_trained, s.synapses);
    const checkpoints = await api.all<Checkpoint>('/api/v1/checkpoints', { cluster_id: id });
    let synapses = live;
    for (const c of checkpoints) {
      if (c.state === 'ready') synapses = addPoint(synapses, { samples: c.samples_trained, value: c.synapses });
    }
    const xs = synapses.map((p) => p.samples);
    synapseChart.update([xs, synapses.map((p) => p.value)]);

    const tasks = await api.all<Task>('/api/v1/tasks', { cluster_id: id });
    for (const task of tasks) {
      if (task.type !== 'request' || task.state !== 'finished' || !task.result_id) continue;
      if (accuracy.has(task.result_id)) continue;
      const score = await api.get<Accuracy>(`/api/v1/results/${task.result_id}/accuracy`);
      accuracy.set(task.result_id, { samples: samplesBefore(tasks, task), value: score.accuracy * 100 });
    }
    let points: Point[] = [];
    for (const p of accuracy.values()) points = addPoint(points, p);
    const [x, a] = align(points, []);
    accuracyChart.update([x, a]);
    const best = points.length ? points[points.length - 1] : null;
    accuracyChart.element.title = best ? `latest ${formatPercent(best.value / 100)}` : '';
  };
  const pollMessage = message();
  root.appendChild(pollMessage);
  const stop = poll(1500, pollMessage, tick);
  return () => {
    stop();
    synapseChart.destroy();
    accuracyChart.destroy();
  };
}
