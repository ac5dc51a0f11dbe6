// Builds the UI shell into web/dist, which crates/server/src/ui.rs embeds (rust-embed) and serves at `/`.
// Everything (React, marked, DOMPurify, FontAwesome and its fonts) is bundled from node_modules: no CDN.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run dev` against a running `symphony serve` on :8080.
    proxy: { "/api": "http://127.0.0.1:8080", "/help/access": "http://127.0.0.1:8080" },
  },
});
