// The login page: name and password; the session goes into HttpOnly cookies ("cookie": true).
import type { Api } from '../api';
import { errorBox, field, h, replace } from '../dom';
import { errorMessage } from '../problem';

export function loginPage(root: HTMLElement, api: Api, onLoggedIn: () => Promise<void>): void {
  const name = h('input', { id: 'login-name', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', {
    id: 'login-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const message = h('div', { className: 'message' });
  const button = h('button', { type: 'submit', id: 'login-submit' }, 'Log in');
  const form = h(
    'form',
    {
      className: 'card login',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        button.disabled = true;
        replace(message);
        try {
          await api.call('POST', '/api/v1/auth/login', {
            body: { name: name.value, password: password.value, cookie: true },
            noRefresh: true,
          });
          password.value = '';
          await onLoggedIn();
        } catch (error) {
          replace(message, errorBox(errorMessage(error)));
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h1', null, 'Tendril'),
    h('p', { className: 'muted' }, 'Log in to grow networks.'),
    field('Name', name),
    field('Password', password),
    button,
    message,
  );
  root.appendChild(h('div', { className: 'center' }, form));
  name.focus();
}
