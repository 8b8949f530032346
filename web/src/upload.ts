// Resumable dataset uploads (docs/api.md "Datasets"): declare the parts with size and SHA-256,
// then send chunks at the offset the server has (`received`), so an interrupted upload goes on
// from where the server's disk says it stopped.

export interface Chunk {
  start: number;
  end: number; // exclusive
}

/** The chunks still to send for a part of `size` bytes when the server has `received`. */
export function remainingChunks(size: number, received: number, chunkSize: number): Chunk[] {
  if (chunkSize <= 0) throw new RangeError('chunk size must be positive');
  const chunks: Chunk[] = [];
  for (let start = Math.max(0, received); start < size; start += chunkSize) {
    chunks.push({ start, end: Math.min(size, start + chunkSize) });
  }
  return chunks;
}

/** Which parts a file list fills for a format, by name: IDX images/labels, or a CSV table. */
export function assignParts(
  format: 'idx' | 'csv',
  names: string[],
): { parts: Record<string, number>; error: string | null } {
  const parts: Record<string, number> = {};
  if (format === 'csv') {
    if (names.length !== 1) return { parts, error: 'a CSV dataset is one file' };
    parts.table = 0;
    return { parts, error: null };
  }
  names.forEach((name, index) => {
    const lower = name.toLowerCase();
    if (lower.includes('label')) parts.labels = index;
    else if (lower.includes('image')) parts.images = index;
  });
  if (names.length !== 2 || parts.images === undefined || parts.labels === undefined) {
    return {
      parts,
      error: 'an IDX dataset is two files whose names contain "images" and "labels"',
    };
  }
  return { parts, error: null };
}

/** Lower-case hex of a digest. */
export function toHex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256Hex(data: BufferSource): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', data));
}

/** A dataset name from a file name: letters, digits and _ . @ -, starting with a letter. */
export function datasetNameFrom(fileName: string): string {
  let name = fileName
    .replace(/\.(gz|csv|idx\d?-?ubyte|ubyte)$/gi, '')
    .replace(/[^A-Za-z0-9_.@-]+/g, '-');
  name = name.replace(/^[^A-Za-z]+/, '');
  if (name.length < 3) name = `data-${name}`;
  return name.slice(0, 64);
}
