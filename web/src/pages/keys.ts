// API keys of the current project: list, create (the secret is shown once), revoke.
import { errorBox, h, replace, table } from '../dom';
import { formatTime } from '../format';
import type { Context } from '../main';
import { actionButton, busy, formSection, message, needsProject, section } from './common';

interface Key {
  id: string;
  name: string;
  role: string;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
  last_used_at: string | null;
  key?: string;
}

export async function keysPage(ctx: Context, root: HTMLElement): Promise<void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'API keys'));
  const missing = needsProject(me);
  if (missing) {
    root.appendChild(missing);
    return;
  }
  const base = `/api/v1/projects/${me.project_id}/api-keys`;
  const list = h('div');
  const msg = message();
  const render = async () => {
    const reply = await api.get<{ items: Key[] }>(base);
    replace(
      list,
      table(
        ['Name', 'Role', 'Created', 'Expires', 'Last used', ''],
        reply.items.map((k) => [
          k.name,
          k.role,
          formatTime(k.created_at),
          formatTime(k.expires_at),
          formatTime(k.last_used_at),
          k.revoked
            ? 'revoked'
            : actionButton('Revoke', msg, async () => {
                      await api.delete(`${base}/${k.id}`);
                      await render();
                    }),
        ]),
        'No keys.',
      ),
    );
  };
  const name = h('input', { id: 'key-name', placeholder: 'e.g. ci-runner' });
  const role = h('select', { id: 'key-role' }, h('option', { value: 'member' }, 'member'), h('option', { value: 'project-admin' }, 'project-admin'));
  const days = h('input', { id: 'key-days', type: 'number', min: '1', placeholder: 'never' });
  const create = h('button', { id: 'key-create' }, 'Create key');
  create.onclick = () =>
    busy(create, msg, async () => {
      const body: Record<string, unknown> = { name: name.value.trim(), role: role.value };
      if (days.value) body.expires_in_s = Math.round(Number(days.value) * 86400);
      const key = await api.post<Key>(base, body);
      replace(
        msg,
        h(
          'div',
          { className: 'ok secret', role: 'status' },
          'Copy this key now; it is not shown again: ',
          h('code', { id: 'new-key' }, key.key ?? ''),
        ),
      );
      await render();
    });
  root.appendChild(section('Keys of this project', list));
  root.appendChild(formSection('New key', [['Name', name], ['Role', role], ['Expires in days', days]], create, msg));
  try {
    await render();
  } catch (error) {
    replace(list, errorBox(String((error as Error).message)));
  }
}
