import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is built once (npm install / npm run build) and served by Berth itself.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1000 },
  server: { proxy: { '/api': 'http://127.0.0.1:5000', '/v2': 'http://127.0.0.1:5000', '/service': 'http://127.0.0.1:5000' } },
});
