// Tasks: start training or a request over a dataset; live progress, samples/s, ETA and cancel;
// the accuracy of finished request tasks as a chart over samples trained. Progress is pushed:
// every queued or running task is watched over its events WebSocket (the session cookie
// authenticates the upgrade), and each event redraws the list; polling stays as the fallback
// when no socket is open.
import { LineChart } from '../chart';
import { field, h, replace, table } from '../dom';
import { formatDuration, formatNumber, formatPercent, formatRate, formatTime } from '../format';
import { addPoint, recordSynapses, samplesBefore, type Point } from '../growth';
import type { Context } from '../main';
import type { Accuracy, Cluster, Dataset, Task } from '../types';
import { ENDED } from '../types';
import { actionButton, busy, clusterSelect, datasetSelect, listClusters, listDatasets, message, needsProject, poll, section } from './common';

const accuracyCache = new Map<string, Accuracy>();

export async function accuracyOf(ctx: Context, resultId: string): Promise<Accuracy> {
  let score = accuracyCache.get(resultId);
  if (!score) {
    score = await ctx.api.get<Accuracy>(`/api/v1/results/${resultId}/accuracy`);
    accuracyCache.set(resultId, score);
  }
  return score;
}

export async function tasksPage(ctx: Context, root: HTMLElement): Promise<() => void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Tasks'));
  const missing = needsProject(me);
  if (missing) root.appendChild(missing);
  const [clusters, datasets]: [Cluster[], Dataset[]] = me.project_id
    ? await Promise.all([listClusters(api), listDatasets(api)])
    : [[], []];

  const type = h('select', { id: 'task-type' }, h('option', { value: 'train' }, 'train'), h('option', { value: 'request' }, 'request (test)'));
  const cluster = clusterSelect(clusters, 'task-cluster');
  const dataset = datasetSelect(datasets, 'task-dataset');
  const epochs = h('input', { id: 'task-epochs', type: 'number', min: '1', max: '1000', value: '1' });
  const start = h('button', { id: 'task-start' }, 'Start');
  const msg = message();
  start.onclick = () =>
    busy(start, msg, async () => {
      const body: Record<string, unknown> = { type: type.value, cluster_id: cluster.value, dataset_id: dataset.value };
      if (type.value === 'train') body.epochs = Number(epochs.value || 1);
      await api.post<Task>('/api/v1/tasks', body);
      busyNow = true;
      stop.now();
    });
  root.appendChild(
    section(
      'New task',
      h('div', { className: 'row' }, field('Type', type), field('Cluster', cluster), field('Dataset', dataset), field('Epochs', epochs), start),
      msg,
    ),
  );

  const list = h('div', { id: 'task-list' });
  const listMessage = message();
  const chart = new LineChart('Accuracy of request tasks over samples trained', 'samples', [{ label: 'accuracy %', color: '#2b6cb0' }]);
  root.appendChild(section('Tasks of this project', list, listMessage));
  root.appendChild(section('Accuracy', chart.element));

  // Open event sockets by task id; an entry stays after its socket closes, so a task is watched
  // once.
  const sockets = new Map<string, WebSocket>();
  const watching = () => [...sockets.values()].some((s) => s.readyState === WebSocket.OPEN);
  const watch = (tasks: Task[]) => {
    for (const task of tasks) {
      if (ENDED.has(task.state) || sockets.has(task.id)) continue;
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const socket = new WebSocket(`${scheme}://${location.host}/api/v1/tasks/${task.id}/events`);
      socket.onmessage = () => stop.now();
      socket.onclose = () => stop.now();
      sockets.set(task.id, socket);
    }
  };

  const name = (id: string | null) => clusters.find((c) => c.id === id)?.name ?? id?.slice(0, 8) ?? '—';
  let busyNow = true;
  const render = async () => {
    const tasks = await api.all<Task>('/api/v1/tasks');
    busyNow = tasks.some((t) => !ENDED.has(t.state));
    watch(tasks);
    // Growth of the clusters being trained, for their synapse charts.
    const recent = (t: Task) =>
      t.state === 'running' || (t.finished_at !== null && Date.now() - Date.parse(t.finished_at) < 10000);
    const training = new Set(tasks.filter((t) => t.type === 'train' && recent(t)).map((t) => t.cluster_id));
    for (const id of training) {
      const c = await api.get<Cluster>(`/api/v1/clusters/${id}`);
      recordSynapses(id, c.stats.samples_trained, c.stats.synapses);
    }
    const rows = [];
    let points: Point[] = [];
    for (const task of [...tasks].reverse()) {
      let outcome = task.error ?? '';
      if (task.type === 'request' && task.state === 'finished' && task.result_id) {
        const score = await accuracyOf(ctx, task.result_id);
        outcome = `accuracy ${formatPercent(score.accuracy, 2)}`;
        points = addPoint(points, { samples: samplesBefore(tasks, task), value: score.accuracy * 100 });
      }
      const running = !ENDED.has(task.state);
      rows.push([
        task.type,
        name(task.cluster_id),
        h('span', { className: `state ${task.state}` }, task.state),
        h(
          'div',
          { className: 'progress' },
          h('progress', { max: '1', value: String(task.progress) }),
          h('span', { className: 'percent' }, formatPercent(task.progress, 0)),
        ),
        `${formatNumber(task.samples_done)} / ${formatNumber(task.samples_total)}`,
        running ? formatRate(task.samples_per_second) : '—',
        running ? formatDuration(task.eta_seconds) : '—',
        h('span', { className: 'outcome' }, outcome),
        formatTime(task.created_at),
        running
          ? actionButton('Cancel', listMessage, async () => {
                    await api.post(`/api/v1/tasks/${task.id}/cancel`, {});
                    stop.now();
                  })
          : '',
      ]);
    }
    replace(list, table(['Type', 'Cluster', 'State', 'Progress', 'Samples', 'Rate', 'ETA', 'Outcome', 'Created', ''], rows, 'No tasks yet.'));
    chart.update([points.map((p) => p.samples), points.map((p) => p.value)]);
  };
  const pollMessage = message();
  root.appendChild(pollMessage);
  // Quick while a task is queued or running and no socket pushes its progress; slow otherwise.
  const stop = poll(() => (busyNow && !watching() ? 700 : 3000), pollMessage, render);
  return () => {
    stop();
    for (const socket of sockets.values()) socket.close();
    chart.destroy();
  };
}
