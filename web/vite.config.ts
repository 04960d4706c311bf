/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The page is served from the gateway's origin (or `medvault dev`), on loopback only.
export default defineConfig({
  build: { target: 'es2022', outDir: 'dist', sourcemap: true },
  server: { host: '127.0.0.1', strictPort: true },
  test: { include: ['test/unit/**/*.test.ts'], environment: 'node' },
});
