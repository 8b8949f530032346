// Vite builds the dashboard into dist/ (index.html + assets/ with content-hashed names, which the
// server caches as immutable); Vitest runs the unit tests of the client-side logic (src/*.test.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npm run dev` against a local `tendril serve` (same origin for cookies through the proxy).
    proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true }, '/metrics': 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
