// Pieces several pages share: a section with a title, a form row, busy buttons with error
// reporting, and the cluster / dataset pickers.
import type { Api } from '../api';
import { errorBox, field, h, replace } from '../dom';
import { errorMessage } from '../problem';
import type { Cluster, Dataset } from '../types';

export function section(title: string, ...children: (Node | string | null)[]): HTMLElement {
  return h('section', { className: 'card' }, h('h2', null, title), ...children);
}

/** Runs `action` with `button` disabled; a failure goes into `message` as a readable error. */
export async function busy(
  button: HTMLButtonElement,
  message: HTMLElement,
  action: () => Promise<void>,
): Promise<void> {
  button.disabled = true;
  replace(message);
  try {
    await action();
  } catch (error) {
    replace(message, errorBox(errorMessage(error)));
  } finally {
    button.disabled = false;
  }
}

export function message(): HTMLElement {
  return h('div', { className: 'message' });
}

export function ok(target: HTMLElement, text: string): void {
  replace(target, h('div', { className: 'ok', role: 'status' }, text));
}

export function needsProject(me: { project_id: string | null }): HTMLElement | null {
  return me.project_id
    ? null
    : errorBox('Select a project (top right) first: clusters, datasets and tasks belong to one.');
}

export function clusterSelect(clusters: Cluster[], id: string, selected?: string): HTMLSelectElement {
  return h(
    'select',
    { id },
    clusters.map((c) => h('option', { value: c.id, selected: c.id === selected }, c.name)),
  );
}

export function datasetSelect(datasets: Dataset[], id: string): HTMLSelectElement {
  return h(
    'select',
    { id },
    datasets
      .filter((d) => d.state === 'ready')
      .map((d) => h('option', { value: d.id }, `${d.name} (${d.items ?? d.rows ?? '?'} samples)`)),
  );
}

export async function listClusters(api: Api): Promise<Cluster[]> {
  return api.all<Cluster>('/api/v1/clusters');
}

export async function listDatasets(api: Api): Promise<Dataset[]> {
  return api.all<Dataset>('/api/v1/datasets');
}

export interface Poller {
  (): void; // stops
  /** Runs the tick now (or right after the one in progress) instead of waiting. */
  now(): void;
}

/**
 * Calls `tick` now and then every `ms` (a number, or a function asked before each wait) until
 * the returned function is called; errors go to `target`.
 */
export function poll(ms: number | (() => number), target: HTMLElement, tick: () => Promise<void>): Poller {
  let stopped = false;
  let running = false;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    clearTimeout(timer);
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await tick();
      if (!stopped) replace(target);
    } catch (error) {
      if (!stopped) replace(target, errorBox(errorMessage(error)));
    }
    running = false;
    if (stopped) return;
    if (again) {
      again = false;
      void run();
    } else {
      timer = setTimeout(run, typeof ms === 'number' ? ms : ms());
    }
  };
  void run();
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  return Object.assign(stop, { now: () => void run() });
}

export function link(ctx: { navigate(path: string): void }, path: string, text: string): HTMLElement {
  return h(
    'a',
    {
      href: path,
      onclick: (event: MouseEvent) => {
        event.preventDefault();
        ctx.navigate(path);
      },
    },
    text,
  );
}

/** A button that runs `action` as busy() does (a small red one unless `className` says). */
export function actionButton(
  label: string,
  target: HTMLElement,
  action: () => Promise<void>,
  className = 'small danger',
): HTMLButtonElement {
  const button = h('button', { className }, label);
  button.onclick = () => busy(button, target, action);
  return button;
}

/** A card with a row of labelled controls and the button, and the message box under them. */
export function formSection(
  title: string,
  fields: [string, HTMLElement][],
  button: HTMLElement,
  target: HTMLElement,
): HTMLElement {
  return section(
    title,
    h('div', { className: 'row' }, fields.map(([label, control]) => field(label, control)), button),
    target,
  );
}
