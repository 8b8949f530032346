// Datasets: drag-and-drop upload with a progress bar (resumable: dropping the same files again
// continues an unfinished upload of the same name where the server's disk says it stopped),
// the list, and a dataset's details with download links.
import { errorBox, field, h, replace, table } from '../dom';
import { formatBytes, formatNumber, formatTime } from '../format';
import type { Context } from '../main';
import { errorMessage } from '../problem';
import type { Dataset } from '../types';
import { assignParts, datasetNameFrom, remainingChunks, sha256Hex } from '../upload';
import { actionButton, link, message, needsProject, poll, section } from './common';

const CHUNK_BYTES = 512 * 1024; // below the default max_body_bytes (1 MiB)

export async function datasetsPage(ctx: Context, root: HTMLElement): Promise<() => void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Datasets'));
  const missing = needsProject(me);
  if (missing) root.appendChild(missing);

  const format = h('select', { id: 'dataset-format' }, h('option', { value: 'idx' }, 'IDX images + labels'), h('option', { value: 'csv' }, 'CSV table'));
  const name = h('input', { id: 'dataset-name', placeholder: 'from the file name' });
  const input = h('input', { id: 'dataset-files', type: 'file', multiple: true });
  const bar = h('progress', { id: 'upload-progress', max: '1', value: '0' });
  const status = h('span', { id: 'upload-status', className: 'muted' }, 'No upload yet.');
  const msg = message();
  const drop = h(
    'div',
    { id: 'drop-zone', className: 'drop' },
    'Drop the dataset files here (IDX: the images and the labels file, plain or .gz; CSV: one table), or ',
    input,
  );
  let uploading = false;
  const upload = async (files: File[]) => {
    if (uploading) return;
    uploading = true;
    replace(msg);
    try {
      const kind = format.value as 'idx' | 'csv';
      const { parts, error } = assignParts(kind, files.map((f) => f.name));
      if (error) throw new Error(error);
      const datasetName = name.value.trim() || datasetNameFrom(files[0].name);
      status.textContent = 'Computing checksums…';
      const declared: Record<string, { size: number; sha256: string }> = {};
      const bytesOf: Record<string, ArrayBuffer> = {};
      for (const [part, index] of Object.entries(parts)) {
        bytesOf[part] = await files[index].arrayBuffer();
        declared[part] = { size: files[index].size, sha256: await sha256Hex(bytesOf[part]) };
      }
      // Resume an unfinished upload of the same files, else declare a new dataset.
      const existing = (await api.all<Dataset>('/api/v1/datasets')).find(
        (d) =>
          d.name === datasetName &&
          d.state === 'uploading' &&
          Object.entries(declared).every(([p, v]) => d.parts[p]?.sha256 === v.sha256 && d.parts[p]?.size === v.size),
      );
      const dataset = existing ?? (await api.post<Dataset>('/api/v1/datasets', { name: datasetName, format: kind, parts: declared }));
      const total = Object.values(declared).reduce((sum, p) => sum + p.size, 0);
      let done = 0;
      for (const [part, info] of Object.entries(declared)) {
        const where = await api.get<{ received: number }>(`/api/v1/datasets/${dataset.id}/parts/${part}`);
        done += where.received;
        for (const chunk of remainingChunks(info.size, where.received, CHUNK_BYTES)) {
          await api.call('PUT', `/api/v1/datasets/${dataset.id}/parts/${part}`, {
            query: { offset: chunk.start },
            raw: bytesOf[part].slice(chunk.start, chunk.end),
          });
          done += chunk.end - chunk.start;
          bar.value = done / total;
          status.textContent = `${existing ? 'Resuming' : 'Uploading'} ${part}: ${formatBytes(done)} of ${formatBytes(total)}`;
        }
      }
      bar.value = 1;
      status.textContent = 'Validating…';
      const ready = await api.post<Dataset>(`/api/v1/datasets/${dataset.id}/finalize`, {});
      status.textContent = `Dataset ${ready.name} is ${ready.state}: ${formatNumber(ready.items ?? ready.rows)} samples.`;
      await render();
    } catch (error) {
      replace(msg, errorBox(errorMessage(error)));
      status.textContent = 'Upload stopped; drop the same files again to resume.';
    } finally {
      uploading = false;
      input.value = '';
    }
  };
  input.addEventListener('change', () => void upload([...(input.files ?? [])]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    void upload([...(event.dataTransfer?.files ?? [])]);
  });
  root.appendChild(section('Upload', h('div', { className: 'row' }, field('Format', format), field('Name', name)), drop, h('div', { className: 'row' }, bar, status), msg));

  const list = h('div', { id: 'dataset-list' });
  const listMessage = message();
  root.appendChild(section('Datasets of this project', list, listMessage));
  const render = async () => {
    const datasets = await api.all<Dataset>('/api/v1/datasets');
    replace(
      list,
      table(
        ['Name', 'Format', 'State', 'Samples', 'Size', 'Created', ''],
        datasets.map((d) => [
          link(ctx, `/datasets/${d.id}`, d.name),
          d.format,
          d.state === 'invalid' ? `invalid: ${d.error ?? ''}` : d.state,
          formatNumber(d.items ?? d.rows),
          formatBytes(d.bytes),
          formatTime(d.created_at),
          actionButton('Delete', listMessage, async () => {
                  if (!confirm(`Delete dataset ${d.name}?`)) return;
                  await api.delete(`/api/v1/datasets/${d.id}`);
                  await render();
                }),
        ]),
        'No datasets yet: drop files above.',
      ),
    );
  };
  const pollMessage = message();
  root.appendChild(pollMessage);
  return poll(5000, pollMessage, render);
}

export async function datasetPage(ctx: Context, root: HTMLElement, [id]: string[]): Promise<void> {
  const dataset = await ctx.api.get<Dataset>(`/api/v1/datasets/${id}`);
  root.appendChild(h('h1', null, `Dataset ${dataset.name}`));
  const shape = dataset.image
    ? `${formatNumber(dataset.items)} images of ${dataset.image.rows}×${dataset.image.cols}, ${dataset.classes} classes`
    : dataset.rows !== null
      ? `${formatNumber(dataset.rows)} rows; columns ${(dataset.columns ?? []).join(', ')}`
      : '—';
  root.appendChild(
    section(
      'Details',
      table(['Format', 'State', 'Shape', 'Stored size', 'Created'], [[dataset.format, dataset.state, shape, formatBytes(dataset.bytes), formatTime(dataset.created_at)]]),
      dataset.error ? errorBox(dataset.error) : null,
    ),
  );
  root.appendChild(
    section(
      'Parts',
      table(
        ['Part', 'Size', 'Received', 'SHA-256', ''],
        Object.entries(dataset.parts).map(([part, p]) => [
          part,
          formatBytes(p.size),
          formatBytes(p.received),
          h('code', null, p.sha256.slice(0, 16) + '…'),
          dataset.state === 'ready'
            ? h('a', { href: `/api/v1/datasets/${id}/download?part=${part}`, download: '' }, 'Download')
            : '',
        ]),
      ),
    ),
  );
}
