import { describe, expect, it } from 'vitest';
import { ApiError, describeProblem, errorMessage, parseProblem } from './problem';

describe('problems as messages', () => {
  it('uses the title, status, detail and field errors', () => {
    const problem = {
      type: 'https://tendril.dev/problems/invalid-argument',
      title: 'Invalid argument',
      status: 400,
      detail: 'name: must match ^[A-Za-z]',
      errors: [
        { field: 'name', message: 'must match ^[A-Za-z]' },
        { field: 'password', message: 'must be at least 8 characters' },
      ],
    };
    expect(describeProblem(400, problem)).toBe(
      'Invalid argument (400): name: must match ^[A-Za-z]; password: must be at least 8 characters',
    );
    const error = new ApiError(400, problem, '');
    expect(error.kind).toBe('invalid-argument');
    expect(errorMessage(error)).toContain('password: must be at least 8 characters');
  });

  it('falls back to the status and the body text when there is no problem+json', () => {
    expect(describeProblem(502, null, '<html>Bad gateway</html>')).toBe('HTTP 502 (502): <html>Bad gateway</html>');
    expect(describeProblem(404, null, '')).toBe('Not found (404)');
    expect(describeProblem(0, null, '')).toBe('The server cannot be reached');
  });

  it('parses only objects that look like problems', () => {
    expect(parseProblem('{"title": "Not found", "detail": "no cluster"}')?.detail).toBe('no cluster');
    expect(parseProblem('[1, 2]')).toBeNull();
    expect(parseProblem('{"items": []}')).toBeNull();
    expect(parseProblem('not json')).toBeNull();
    expect(parseProblem('')).toBeNull();
  });

  it('never gives an empty message for a thrown value', () => {
    expect(errorMessage(new TypeError('Failed to fetch'))).toBe('The server cannot be reached: Failed to fetch');
    expect(errorMessage('plain')).toBe('plain');
  });
});
