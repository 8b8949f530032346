// API errors as readable messages. Every reply that is not a success becomes an ApiError whose
// message a person can read: the problem+json detail and its field errors when the server sent
// one (docs/api.md "Errors"), otherwise the status and what the body said.

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  received?: number;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;

  constructor(status: number, problem: Problem | null, fallback: string) {
    super(describeProblem(status, problem, fallback));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }

  /** The stable part of the problem type ("not-found"), or "" when there is none. */
  get kind(): string {
    const type = this.problem?.type ?? '';
    const slash = type.lastIndexOf('/');
    return slash >= 0 ? type.slice(slash + 1) : type;
  }
}

const STATUS_TEXT: Record<number, string> = {
  0: 'The server cannot be reached',
  400: 'Invalid request',
  401: 'Not logged in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  429: 'Too many requests or over a quota',
  500: 'Server error',
  503: 'Service unavailable',
};

/** One line (plus field lines) for a failed reply. */
export function describeProblem(status: number, problem: Problem | null, fallback = ''): string {
  const head = problem?.title || STATUS_TEXT[status] || `HTTP ${status}`;
  const parts: string[] = [];
  const detail = problem?.detail?.trim();
  if (detail) parts.push(detail);
  const fields = (problem?.errors ?? [])
    .filter((error) => error && error.field && error.message)
    .map((error) => `${error.field}: ${error.message}`)
    .filter((line) => line !== detail);
  parts.push(...fields);
  if (parts.length === 0 && fallback.trim()) parts.push(fallback.trim().slice(0, 300));
  const status_text = status > 0 ? ` (${status})` : '';
  return parts.length ? `${head}${status_text}: ${parts.join('; ')}` : `${head}${status_text}`;
}

/** Parses a reply body as a problem when it looks like one. */
export function parseProblem(text: string): Problem | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const object = value as Problem;
      if (object.detail !== undefined || object.title !== undefined || object.type !== undefined) {
        return object;
      }
    }
  } catch {
    // not JSON: the caller falls back to the text
  }
  return null;
}

/** A message for anything thrown: ApiError, network failure, or a bug. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return `The server cannot be reached: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
