// The OpenAPI browser: the server's own page at /api/docs, embedded, with a link to open it.
import { h } from '../dom';
import type { Context } from '../main';

export async function apiDocsPage(_ctx: Context, root: HTMLElement): Promise<void> {
  root.appendChild(h('h1', null, 'API'));
  root.appendChild(
    h(
      'p',
      null,
      'Every route, field and error of the API, generated from the same declarations that validate requests. ',
      h('a', { href: '/api/docs', target: '_blank', rel: 'noopener' }, 'Open in a new tab'),
      ' · ',
      h('a', { href: '/api/v1/openapi.json', target: '_blank', rel: 'noopener' }, 'openapi.json'),
    ),
  );
  root.appendChild(h('iframe', { src: '/api/docs', title: 'API documentation', className: 'docs' }));
}
