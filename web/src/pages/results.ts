// Results of request tasks: accuracy and downloads (plain links: the session cookie
// authenticates them, so no token is put in a URL).
import { h, replace, table } from '../dom';
import { formatNumber, formatPercent, formatTime } from '../format';
import type { Context } from '../main';
import type { Result } from '../types';
import { actionButton, message, needsProject, section } from './common';
import { accuracyOf } from './tasks';

export async function resultsPage(ctx: Context, root: HTMLElement): Promise<void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Results'));
  const missing = needsProject(me);
  if (missing) root.appendChild(missing);
  const list = h('div', { id: 'result-list' });
  const msg = message();
  root.appendChild(section('Results of request tasks', list, msg));
  const render = async () => {
    const results = await api.all<Result>('/api/v1/results');
    const rows = [];
    for (const r of results) {
      let accuracy = '—';
      try {
        const score = await accuracyOf(ctx, r.id);
        accuracy = score.correct !== undefined
          ? `${formatPercent(score.accuracy, 2)} (${formatNumber(score.correct)} of ${formatNumber(score.count)})`
          : `${formatPercent(score.accuracy, 2)}, MAE ${score.mean_absolute_error?.toFixed(4)}`;
      } catch (error) {
        accuracy = (error as Error).message;
      }
      rows.push([
        h('code', null, r.id.slice(0, 8)),
        formatNumber(r.count),
        h('span', { className: 'accuracy' }, accuracy),
        formatTime(r.created_at),
        h('span', null,
          h('a', { href: `/api/v1/results/${r.id}/download?format=csv`, download: '' }, 'CSV'), ' · ',
          h('a', { href: `/api/v1/results/${r.id}/download?format=json`, download: '' }, 'JSON')),
        actionButton('Delete', msg, async () => {
            await api.delete(`/api/v1/results/${r.id}`);
            await render();
          }),
      ]);
    }
    replace(list, table(['Result', 'Samples', 'Accuracy', 'Created', 'Download', ''], rows, 'No results yet: run a request task.'));
  };
  await render();
}
