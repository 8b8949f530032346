// Projects and their members; users (admin).
import { h, replace, table } from '../dom';
import { formatTime } from '../format';
import type { Context } from '../main';
import type { ProjectRef, User } from '../types';
import { actionButton, busy, formSection, message, ok, section } from './common';

interface Project extends ProjectRef {
  created_at: string;
}
interface Membership {
  user_id: string;
  user_name: string;
  role: string;
}

export async function projectsPage(ctx: Context, root: HTMLElement): Promise<void> {
  const { api, me } = ctx;
  root.appendChild(h('h1', null, 'Projects'));
  const list = h('div');
  const listMessage = message();
  const render = async () => {
    const projects = await api.all<Project>('/api/v1/projects');
    replace(
      list,
      table(
        ['Name', 'Your role', 'Created', ''],
        projects.map((p) => [
          p.name,
          p.role ?? (me.user.is_admin ? 'admin' : ''),
          formatTime(p.created_at),
          h(
            'span',
            { className: 'row' },
            h('button', { className: 'small', onclick: () => void showMembers(p) }, 'Members'),
            me.user.is_admin
              ? actionButton('Delete', listMessage, async () => {
                  if (!confirm(`Delete project ${p.name} with everything in it?`)) return;
                  await api.delete(`/api/v1/projects/${p.id}`, { cascade: true });
                  await render();
                  await ctx.refreshHeader();
                })
              : null,
          ),
        ]),
        'No projects yet.',
      ),
    );
  };

  const members = h('div', { id: 'members' });
  const showMembers = async (project: Project) => {
    const msg = message();
    const userName = h('input', { id: 'member-name', placeholder: 'user name' });
    const role = h(
      'select',
      { id: 'member-role' },
      h('option', { value: 'member' }, 'member'),
      h('option', { value: 'project-admin' }, 'project-admin'),
    );
    const refresh = async () => {
      const reply = await api.get<{ items: Membership[] }>(`/api/v1/projects/${project.id}/members`);
      replace(
        tableBox,
        table(
          ['User', 'Role', ''],
          reply.items.map((m) => [
            m.user_name,
            m.role,
            actionButton('Remove', msg, async () => {
                    await api.delete(`/api/v1/projects/${project.id}/members/${m.user_id}`);
                    await refresh();
                  }),
          ]),
          'No members.',
        ),
      );
    };
    const tableBox = h('div');
    const add = h('button', { id: 'member-add' }, 'Add member');
    add.onclick = () =>
      busy(add, msg, async () => {
        const users = ctx.me.user.is_admin ? await api.all<User>('/api/v1/users') : [];
        const user = users.find((u) => u.name === userName.value.trim());
        if (!user) throw new Error(`No user named "${userName.value.trim()}".`);
        await api.put(`/api/v1/projects/${project.id}/members/${user.id}`, { role: role.value });
        ok(msg, `${user.name} is now ${role.value} of ${project.name}.`);
        await refresh();
      });
    replace(
      members,
      section(`Members of ${project.name}`, tableBox, h('div', { className: 'row' }, userName, role, add), msg),
    );
    try {
      await refresh();
    } catch (error) {
      replace(tableBox, String(error));
      throw error;
    }
  };

  root.appendChild(section('All projects', list, listMessage));
  if (me.user.is_admin) {
    const name = h('input', { id: 'project-name', placeholder: 'project name' });
    const msg = message();
    const create = h('button', { id: 'project-create' }, 'Create project');
    create.onclick = () =>
      busy(create, msg, async () => {
        const project = await api.post<Project>('/api/v1/projects', { name: name.value.trim() });
        ok(msg, `Project ${project.name} created.`);
        name.value = '';
        await render();
        await ctx.refreshHeader();
      });
    root.appendChild(formSection('New project', [['Name', name]], create, msg));
  }
  root.appendChild(members);
  await render();
}

export async function usersPage(ctx: Context, root: HTMLElement): Promise<void> {
  const { api } = ctx;
  root.appendChild(h('h1', null, 'Users'));
  const list = h('div');
  const msg = message();
  const render = async () => {
    const users = await api.all<User>('/api/v1/users');
    replace(
      list,
      table(
        ['Name', 'Admin', 'Created', ''],
        users.map((u) => [
          u.name,
          u.is_admin ? 'yes' : 'no',
          formatTime(u.created_at),
          u.id === ctx.me.user.id
            ? ''
            : actionButton('Delete', msg, async () => {
                      if (!confirm(`Delete user ${u.name}?`)) return;
                      await api.delete(`/api/v1/users/${u.id}`);
                      await render();
                    }),
        ]),
      ),
    );
  };
  const name = h('input', { id: 'user-name', placeholder: 'name' });
  const password = h('input', { id: 'user-password', type: 'password', placeholder: 'at least 8 characters', autocomplete: 'new-password' });
  const isAdmin = h('input', { id: 'user-admin', type: 'checkbox' });
  const create = h('button', { id: 'user-create' }, 'Create user');
  create.onclick = () =>
    busy(create, msg, async () => {
      const user = await api.post<User>('/api/v1/users', {
        name: name.value.trim(),
        password: password.value,
        is_admin: isAdmin.checked,
      });
      ok(msg, `User ${user.name} created.`);
      name.value = '';
      password.value = '';
      await render();
    });
  root.appendChild(section('All users', list));
  root.appendChild(formSection('New user', [['Name', name], ['Password', password], ['Admin', isAdmin]], create, msg));
  await render();
}
