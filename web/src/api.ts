// The dashboard's HTTP client. Sessions are browser cookies (docs/dashboard.md): login asks for
// `"cookie": true`, so the access and refresh tokens live in HttpOnly cookies that no script —
// this one included — can read; nothing is put in localStorage, sessionStorage or a URL.
// When a call answers 401, the client refreshes the session once (POST /api/v1/auth/refresh
// with the refresh cookie) and repeats the call; if that fails, onLoggedOut runs.

import { ApiError, parseProblem } from './problem';

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * Runs `task` while holding the lock `name` across every tab of this origin (the Web Locks API).
 * Refreshes must not overlap between tabs: the cookies are shared, and a refresh token presented
 * twice is taken for a stolen one (the server then ends every session of the user).
 */
export type LockRunner = <T>(name: string, task: () => Promise<T>) => Promise<T>;

function browserLocks(): LockRunner | null {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return null;
  return (name, task) => locks.request(name, task) as Promise<Awaited<ReturnType<typeof task>>>;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface CallOptions {
  body?: unknown;
  raw?: BodyInit;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Do not try to refresh on 401 (login, refresh itself). */
  noRefresh?: boolean;
}

export function withQuery(path: string, query?: CallOptions['query']): string {
  if (!query) return path;
  const pairs = Object.entries(query)
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  return pairs.length ? `${path}?${pairs.join('&')}` : path;
}

export class Api {
  onLoggedOut: () => void = () => {};
  private refreshing: Promise<boolean> | null = null;

  constructor(
    private readonly fetcher: Fetch = (input, init) => fetch(input, init),
    private readonly locks: LockRunner | null = browserLocks(),
  ) {}

  async call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    let response = await this.send(method, path, options);
    if (response.status === 401 && !options.noRefresh) {
      if (await this.refresh()) {
        response = await this.send(method, path, options);
      }
      if (response.status === 401) this.onLoggedOut();
    }
    return this.read<T>(response);
  }

  get<T = unknown>(path: string, query?: CallOptions['query']): Promise<T> {
    return this.call<T>('GET', path, { query });
  }
  post<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, { body: body ?? {} });
  }
  put<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('PUT', path, { body: body ?? {} });
  }
  patch<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('PATCH', path, { body: body ?? {} });
  }
  delete(path: string, query?: CallOptions['query']): Promise<unknown> {
    return this.call('DELETE', path, { query });
  }

  /** Every item of a paged list (docs/api.md "Lists"), up to `max`. */
  async all<T>(path: string, query: CallOptions['query'] = {}, max = 5000): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<T> = await this.get<Page<T>>(path, { ...query, limit: 1000, cursor });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < max);
    return items;
  }

  /**
   * Refreshes the cookie session, one refresh at a time in this tab and (with Web Locks) across
   * tabs; true when a valid session is in the cookies afterwards. Inside the lock it first asks
   * whoami: another tab may have refreshed while this one waited.
   */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      const attempt = async (): Promise<boolean> => {
        if (this.locks) {
          const probe = await this.send('GET', '/api/v1/auth/whoami', {});
          if (probe.ok) return true;
        }
        const response = await this.send('POST', '/api/v1/auth/refresh', { body: {} });
        return response.ok;
      };
      const locked = this.locks ? this.locks('tendril-session-refresh', attempt) : attempt();
      this.refreshing = locked
        .catch(() => false)
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  private send(method: string, path: string, options: CallOptions): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    let body: BodyInit | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
      headers['Content-Type'] = options.contentType ?? 'application/octet-stream';
    } else if (options.body !== undefined && method !== 'GET' && method !== 'DELETE') {
      body = JSON.stringify(options.body);
      headers['Content-Type'] = 'application/json';
    }
    return this.fetcher(withQuery(path, options.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  }

  private async read<T>(response: Response): Promise<T> {
    const text = await response.text();
    if (!response.ok) {
      throw new ApiError(response.status, parseProblem(text), text || response.statusText);
    }
    if (!text) return undefined as T;
    const type = response.headers.get('Content-Type') ?? '';
    if (type.includes('json')) return JSON.parse(text) as T;
    return text as T;
  }
}

/** WebSocket URL for an API path on this page's server (cookies authenticate the upgrade). */
export function socketUrl(path: string, location: { protocol: string; host: string }): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}
