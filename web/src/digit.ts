// The playground's digit: strokes drawn on a large canvas become the 28×28 raw pixel values
// (0..255, row by row) that an MNIST-style cluster takes, and the ten outputs become bars.

/**
 * Averages an RGBA image of `width`×`height` (white strokes on black, or any colour: the
 * brightest channel counts) down to `size`×`size` values in 0..255. Each output pixel is the mean
 * of the source pixels whose centres fall in its cell.
 */
export function downsample(
  rgba: ArrayLike<number>,
  width: number,
  height: number,
  size = 28,
): number[] {
  const sums = new Float64Array(size * size);
  const counts = new Float64Array(size * size);
  for (let y = 0; y < height; y++) {
    const row = Math.min(size - 1, Math.floor(((y + 0.5) * size) / height));
    for (let x = 0; x < width; x++) {
      const col = Math.min(size - 1, Math.floor(((x + 0.5) * size) / width));
      const i = (y * width + x) * 4;
      const alpha = rgba[i + 3] / 255;
      const value = Math.max(rgba[i], rgba[i + 1], rgba[i + 2]) * alpha;
      sums[row * size + col] += value;
      counts[row * size + col] += 1;
    }
  }
  const out: number[] = new Array(size * size);
  for (let k = 0; k < size * size; k++) {
    out[k] = counts[k] > 0 ? Math.round(Math.min(255, sums[k] / counts[k])) : 0;
  }
  return out;
}

/** Index of the largest value (the first on ties), -1 for an empty list. */
export function argmax(values: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    if (best < 0 || values[i] > values[best]) best = i;
  }
  return best;
}

/** One-hot expected values for training a label. */
export function oneHot(label: number, width: number): number[] {
  if (!Number.isInteger(label) || label < 0 || label >= width) {
    throw new RangeError(`label must be 0..${width - 1}`);
  }
  return Array.from({ length: width }, (_, i) => (i === label ? 1 : 0));
}

/** Bar heights 0..1 for outputs: scaled by the largest absolute value (all zero stays zero). */
export function barHeights(values: readonly number[]): number[] {
  const top = Math.max(0, ...values.map((v) => Math.abs(v)));
  return values.map((v) => (top > 0 ? Math.max(0, v) / top : 0));
}
