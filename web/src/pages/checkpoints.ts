// Checkpoints: save a cluster, restore one into a cluster built from the same template, download.
import { field, h, replace, table } from '../dom';
import { formatBytes, formatNumber, formatTime } from '../format';
import type { Context } from '../main';
import type { Checkpoint, Cluster } from '../types';
import { actionButton, busy, clusterSelect, listClusters, message, needsProject, ok, poll, section } from './common';

export async function checkpointsPage(ctx: Context, root: HTMLElement): Promise<() => void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Checkpoints'));
  const missing = needsProject(me);
  if (missing) root.appendChild(missing);
  const clusters: Cluster[] = me.project_id ? await listClusters(api) : [];
  const cluster = clusterSelect(clusters, 'checkpoint-cluster');
  const name = h('input', { id: 'checkpoint-name', placeholder: 'e.g. after-epoch-1' });
  const save = h('button', { id: 'checkpoint-save' }, 'Save checkpoint');
  const msg = message();
  save.onclick = () =>
    busy(save, msg, async () => {
      await api.post('/api/v1/checkpoints', { cluster_id: cluster.value, name: name.value.trim() });
      ok(msg, 'Saving: the checkpoint is ready when its state says so.');
      await render();
    });
  root.appendChild(section('Save', h('div', { className: 'row' }, field('Cluster', cluster), field('Name', name), save), msg));

  const list = h('div', { id: 'checkpoint-list' });
  const listMessage = message();
  root.appendChild(section('Checkpoints of this project', list, listMessage));
  const clusterName = (id: string | null) => clusters.find((c) => c.id === id)?.name ?? (id ? 'deleted cluster' : 'upload');
  const render = async () => {
    const checkpoints = await api.all<Checkpoint>('/api/v1/checkpoints');
    replace(
      list,
      table(
        ['Name', 'Cluster', 'Kind', 'State', 'Samples', 'Synapses', 'Size', 'Created', ''],
        checkpoints.map((c) => [
          c.name ?? '(autosave)',
          clusterName(c.cluster_id),
          c.kind,
          c.error ? `${c.state}: ${c.error}` : c.state,
          formatNumber(c.samples_trained),
          formatNumber(c.synapses),
          formatBytes(c.bytes),
          formatTime(c.created_at),
          c.state === 'ready'
            ? h('span', null,
                h('a', { href: `/api/v1/checkpoints/${c.id}/download`, download: '' }, 'Download'), ' ',
                actionButton('Restore', listMessage, async () => {
                    const target = c.cluster_id && clusters.some((k) => k.id === c.cluster_id) ? c.cluster_id : cluster.value;
                    await api.post(`/api/v1/clusters/${target}/restore`, { checkpoint_id: c.id });
                    ok(listMessage, `Restoring ${c.name ?? 'autosave'} into ${clusterName(target)}.`);
                  }, 'small'),
                ' ',
                actionButton('Delete', listMessage, async () => {
                    await api.delete(`/api/v1/checkpoints/${c.id}`);
                    await render();
                  }))
            : '',
        ]),
        'No checkpoints yet.',
      ),
    );
  };
  const pollMessage = message();
  root.appendChild(pollMessage);
  return poll(2000, pollMessage, render);
}
