import { describe, expect, it } from 'vitest';
import { Api, socketUrl, withQuery, type Fetch } from './api';
import { ApiError } from './problem';

// A scripted server: each call gets the next reply; the requests are recorded.
function scripted(replies: Response[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetcher: Fetch = async (url, init) => {
    calls.push({ url, init: init ?? {} });
    const next = replies.shift();
    if (!next) throw new Error(`unexpected call ${url}`);
    return next;
  };
  return { calls, fetcher };
}

const json = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });

describe('Api', () => {
  it('sends JSON with the session cookie and no Authorization header', async () => {
    const { calls, fetcher } = scripted([json(201, { id: 'p1' })]);
    const api = new Api(fetcher, null);
    expect(await api.post('/api/v1/projects', { name: 'vision' })).toEqual({ id: 'p1' });
    expect(calls[0].init.credentials).toBe('same-origin');
    expect(calls[0].init.body).toBe('{"name":"vision"}');
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers['Content-Type']).toBe('application/json');
    expect(Object.keys(headers).map((k) => k.toLowerCase())).not.toContain('authorization');
  });

  it('refreshes once on 401 and repeats the call', async () => {
    const { calls, fetcher } = scripted([
      json(401, { title: 'Unauthenticated', detail: 'token expired' }, 'application/problem+json'),
      json(200, { role: 'member' }),
      json(200, { items: [] }),
    ]);
    const api = new Api(fetcher, null);
    let loggedOut = false;
    api.onLoggedOut = () => (loggedOut = true);
    expect(await api.get('/api/v1/clusters')).toEqual({ items: [] });
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /api/v1/clusters',
      'POST /api/v1/auth/refresh',
      'GET /api/v1/clusters',
    ]);
    expect(calls[1].init.body).toBe('{}'); // the refresh token is the cookie, not the body
    expect(loggedOut).toBe(false);
  });

  it('reports a logout when the refresh fails, with a readable error', async () => {
    const { fetcher } = scripted([
      json(401, { title: 'Unauthenticated', detail: 'session ended' }, 'application/problem+json'),
      json(401, { title: 'Unauthenticated', detail: 'no refresh cookie' }, 'application/problem+json'),
    ]);
    const api = new Api(fetcher, null);
    let loggedOut = false;
    api.onLoggedOut = () => (loggedOut = true);
    const error = await api.get('/api/v1/clusters').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(401);
    expect((error as ApiError).message).toBe('Unauthenticated (401): session ended');
    expect(loggedOut).toBe(true);
  });

  it('refreshes under a cross-tab lock, and not at all when another tab already did', async () => {
    const held: string[] = [];
    const locks = async <T,>(name: string, task: () => Promise<T>) => {
      held.push(name);
      return task();
    };
    const unauthenticated = () => json(401, { title: 'Unauthenticated' }, 'application/problem+json');
    // Another tab refreshed while this one waited: whoami succeeds inside the lock.
    const first = scripted([unauthenticated(), json(200, { role: 'member' }), json(200, { items: [] })]);
    await new Api(first.fetcher, locks).get('/api/v1/clusters');
    expect(first.calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /api/v1/clusters',
      'GET /api/v1/auth/whoami',
      'GET /api/v1/clusters',
    ]);
    // Nobody did: whoami fails, so this tab refreshes.
    const second = scripted([unauthenticated(), unauthenticated(), json(200, {}), json(200, { items: [] })]);
    await new Api(second.fetcher, locks).get('/api/v1/clusters');
    expect(second.calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /api/v1/clusters',
      'GET /api/v1/auth/whoami',
      'POST /api/v1/auth/refresh',
      'GET /api/v1/clusters',
    ]);
    expect(held).toEqual(['tendril-session-refresh', 'tendril-session-refresh']);
  });

  it('pages through lists with the cursor', async () => {
    const { calls, fetcher } = scripted([
      json(200, { items: [1, 2], next_cursor: 'c2' }),
      json(200, { items: [3], next_cursor: null }),
    ]);
    expect(await new Api(fetcher, null).all<number>('/api/v1/tasks', { state: 'running' })).toEqual([1, 2, 3]);
    expect(calls[0].url).toBe('/api/v1/tasks?state=running&limit=1000');
    expect(calls[1].url).toBe('/api/v1/tasks?state=running&limit=1000&cursor=c2');
  });

  it('sends raw chunks as octet-stream', async () => {
    const { calls, fetcher } = scripted([json(200, { received: 3 })]);
    await new Api(fetcher, null).call('PUT', '/api/v1/datasets/d/parts/images', {
      query: { offset: 0 },
      raw: new Uint8Array([1, 2, 3]),
    });
    expect(calls[0].url).toBe('/api/v1/datasets/d/parts/images?offset=0');
    expect((calls[0].init.headers as Record<string, string>)['Content-Type']).toBe('application/octet-stream');
  });
});

describe('urls', () => {
  it('encodes query values and drops empty ones', () => {
    expect(withQuery('/x', { a: 'b c', n: 5, skip: undefined, empty: '' })).toBe('/x?a=b%20c&n=5');
  });
  it('makes WebSocket URLs on the page origin', () => {
    expect(socketUrl('/api/v1/events', { protocol: 'https:', host: 'h:1' })).toBe('wss://h:1/api/v1/events');
    expect(socketUrl('/api/v1/events', { protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/api/v1/events');
  });
});
