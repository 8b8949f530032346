// The dashboard's shell: the session (whoami), the navigation, the project switcher and a
// router over the History API (the server answers index.html for every page path).
import './style.css';
import { Api } from './api';
import { append, errorBox, h, replace } from './dom';
import { errorMessage } from './problem';
import type { ProjectRef, Whoami } from './types';
import { loginPage } from './pages/login';
import { projectsPage, usersPage } from './pages/admin';
import { keysPage } from './pages/keys';
import { clusterPage, clustersPage } from './pages/clusters';
import { datasetPage, datasetsPage } from './pages/datasets';
import { tasksPage } from './pages/tasks';
import { resultsPage } from './pages/results';
import { checkpointsPage } from './pages/checkpoints';
import { playgroundPage } from './pages/playground';
import { monitorPage } from './pages/monitor';
import { apiDocsPage } from './pages/apidocs';

export type Cleanup = () => void;

export interface Context {
  api: Api;
  me: Whoami;
  navigate(path: string): void;
  /** Re-reads whoami and redraws the header (after a project was created or removed). */
  refreshHeader(): Promise<void>;
}

type Page = (ctx: Context, root: HTMLElement, params: string[]) => Promise<Cleanup | void>;

const routes: { pattern: RegExp; page: Page; title: string }[] = [
  { pattern: /^\/projects$/, page: projectsPage, title: 'Projects' },
  { pattern: /^\/users$/, page: usersPage, title: 'Users' },
  { pattern: /^\/keys$/, page: keysPage, title: 'API keys' },
  { pattern: /^\/clusters$/, page: clustersPage, title: 'Clusters' },
  { pattern: /^\/clusters\/([0-9a-f-]+)$/, page: clusterPage, title: 'Cluster' },
  { pattern: /^\/datasets$/, page: datasetsPage, title: 'Datasets' },
  { pattern: /^\/datasets\/([0-9a-f-]+)$/, page: datasetPage, title: 'Dataset' },
  { pattern: /^\/tasks$/, page: tasksPage, title: 'Tasks' },
  { pattern: /^\/results$/, page: resultsPage, title: 'Results' },
  { pattern: /^\/checkpoints$/, page: checkpointsPage, title: 'Checkpoints' },
  { pattern: /^\/playground$/, page: playgroundPage, title: 'Playground' },
  { pattern: /^\/monitor$/, page: monitorPage, title: 'Host' },
  { pattern: /^\/api-docs$/, page: apiDocsPage, title: 'API' },
];

const NAV: [string, string, boolean][] = [
  ['/clusters', 'Clusters', false],
  ['/datasets', 'Datasets', false],
  ['/tasks', 'Tasks', false],
  ['/results', 'Results', false],
  ['/checkpoints', 'Checkpoints', false],
  ['/playground', 'Playground', false],
  ['/keys', 'API keys', false],
  ['/projects', 'Projects', false],
  ['/users', 'Users', true],
  ['/monitor', 'Host', false],
  ['/api-docs', 'API', false],
];

const api = new Api();
const app = document.getElementById('app') as HTMLElement;
let me: Whoami | null = null;
let cleanup: Cleanup | null = null;
let renderCount = 0;

function navigate(path: string): void {
  if (location.pathname !== path) history.pushState(null, '', path);
  void render();
}

async function whoami(): Promise<Whoami> {
  const session = await api.call<Whoami>('GET', '/api/v1/auth/whoami', { noRefresh: true });
  // An admin may act in any project, member or not: the switcher offers them all.
  if (session.user.is_admin) session.projects = await api.all<ProjectRef>('/api/v1/projects');
  return session;
}

async function loadSession(): Promise<Whoami | null> {
  try {
    return await whoami();
  } catch {
    if (await api.refresh()) {
      try {
        return await whoami();
      } catch {
        return null;
      }
    }
    return null;
  }
}

async function logout(): Promise<void> {
  try {
    await api.post('/api/v1/auth/logout', {});
  } catch {
    // the cookies are cleared by the reply either way; show the login page
  }
  me = null;
  navigate('/login');
}

function header(session: Whoami): HTMLElement {
  const select = h(
    'select',
    {
      id: 'project-switch',
      'aria-label': 'Project',
      onchange: async (event: Event) => {
        const id = (event.target as HTMLSelectElement).value;
        try {
          await api.post('/api/v1/auth/switch', { project_id: id });
          await reload();
        } catch (error) {
          showBanner(errorMessage(error));
        }
      },
    },
    session.project_id ? null : h('option', { value: '' }, '— no project —'),
    session.projects.map((p) =>
      h('option', { value: p.id, selected: p.id === session.project_id }, p.name),
    ),
  );
  const links = NAV.filter(([, , adminOnly]) => !adminOnly || session.user.is_admin).map(
    ([path, label]) =>
      h(
        'a',
        {
          href: path,
          className: location.pathname.startsWith(path) ? 'active' : '',
          onclick: (event: MouseEvent) => {
            event.preventDefault();
            navigate(path);
          },
        },
        label,
      ),
  );
  return h(
    'header',
    null,
    h('strong', { className: 'brand' }, 'Tendril'),
    h('nav', null, links),
    h(
      'div',
      { className: 'who' },
      select,
      h('span', { id: 'whoami' }, `${session.user.name} (${session.role})`),
      h('button', { id: 'logout', onclick: () => void logout() }, 'Log out'),
    ),
  );
}

let banner: HTMLElement | null = null;
function showBanner(message: string): void {
  if (!banner) return;
  replace(banner, errorBox(message));
}

async function reload(): Promise<void> {
  me = await loadSession();
  await render();
}

let headerElement: HTMLElement | null = null;
async function refreshHeader(): Promise<void> {
  const session = await loadSession();
  if (!session) return reload();
  me = session;
  const fresh = header(session);
  headerElement?.replaceWith(fresh);
  headerElement = fresh;
}

async function render(): Promise<void> {
  const mine = ++renderCount;
  cleanup?.();
  cleanup = null;
  if (!me) me = await loadSession();
  if (mine !== renderCount) return;
  if (!me) {
    if (location.pathname !== '/login') history.replaceState(null, '', '/login');
    replace(app);
    loginPage(app, api, async () => {
      me = await loadSession();
      navigate('/clusters');
    });
    document.title = 'Log in · Tendril';
    return;
  }
  if (location.pathname === '/' || location.pathname === '/login') {
    history.replaceState(null, '', '/clusters');
  }
  const route = routes.find((r) => r.pattern.test(location.pathname));
  banner = h('div', { className: 'banner' });
  const main = h('main', { id: 'page' });
  headerElement = header(me);
  replace(app, headerElement, banner, main);
  if (!route) {
    append(main, [h('h1', null, 'Not found'), errorBox(`No page at ${location.pathname}.`)]);
    return;
  }
  document.title = `${route.title} · Tendril`;
  const params = (location.pathname.match(route.pattern) ?? []).slice(1);
  const context: Context = { api, me, navigate, refreshHeader };
  try {
    const result = await route.page(context, main, params);
    if (mine === renderCount) cleanup = result ?? null;
    else result?.();
  } catch (error) {
    append(main, [errorBox(errorMessage(error))]);
  }
}

api.onLoggedOut = () => {
  me = null;
  void render();
};
window.addEventListener('popstate', () => void render());
window.addEventListener('unhandledrejection', (event) => showBanner(errorMessage(event.reason)));
window.addEventListener('error', (event) => showBanner(errorMessage(event.error ?? event.message)));
void render();
