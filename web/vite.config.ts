// Builds the UI shell into web/dist, which crates/server/src/ui embeds (rust-embed) and serves at `/`.
// Everything (React, marked, DOMPurify, FontAwesome, htmx, the NATS WebSocket client) comes from node_modules:
// no CDN. Besides the shell (index.html → assets/*-<hash>.js, chunks loaded lazily per route), the build has
// fixed-name ES module entries under vendor/ that the import map in index.html points extension modules at:
// they share their module instances with the shell (one React, one SymphonyContext). Static vendor files
// (htmx, FontAwesome's CSS and fonts for iframes) are copied to vendor/ as they are.
import fs from "node:fs";
import path from "node:path";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

/** Module entries served as /vendor/<name>.js (see the import map in index.html). */
const VENDOR_ENTRIES: Record<string, string> = {
  react: "src/vendor/react.js",
  "react-jsx-runtime": "src/vendor/react-jsx-runtime.js",
  "react-dom": "src/vendor/react-dom.js",
  "react-dom-client": "src/vendor/react-dom-client.js",
  symphony: "src/vendor/symphony.js",
  "symphony-frame": "src/vendor/symphony-frame.ts",
  "nats-core": "src/vendor/nats-core.js",
  kv: "src/vendor/kv.js",
  marked: "src/vendor/marked.js",
  dompurify: "src/vendor/dompurify.js",
};

/** Files copied verbatim: node_modules path → dist path. Directories are copied whole. */
const VENDOR_FILES: Record<string, string> = {
  "htmx.org/dist/htmx.min.js": "vendor/htmx.min.js",
  "@fortawesome/fontawesome-free/css/all.min.css": "vendor/fontawesome/css/all.min.css",
  "@fortawesome/fontawesome-free/webfonts": "vendor/fontawesome/webfonts",
};

function vendorFiles(): Plugin {
  return {
    name: "symphony-vendor-files",
    apply: "build",
    generateBundle() {
      const emit = (from: string, to: string) => {
        if (fs.statSync(from).isDirectory()) {
          for (const f of fs.readdirSync(from)) emit(path.join(from, f), `${to}/${f}`);
        } else {
          this.emitFile({ type: "asset", fileName: to, source: fs.readFileSync(from) });
        }
      };
      for (const [from, to] of Object.entries(VENDOR_FILES)) emit(path.join("node_modules", from), to);
    },
  };
}

export default defineConfig({
  plugins: [react(), vendorFiles()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: {
        index: "index.html",
        ...Object.fromEntries(Object.entries(VENDOR_ENTRIES).map(([name, file]) => [`vendor/${name}`, file])),
      },
      // Vendor entries are imported by extension modules: keep their exports exactly.
      preserveEntrySignatures: "strict",
      output: {
        entryFileNames: (chunk) => (chunk.name.startsWith("vendor/") ? "[name].js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: {
    // `npm run dev` against a running `symphony serve` on :8080.
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/vendor": "http://127.0.0.1:8080",
      "/help/access": "http://127.0.0.1:8080",
    },
  },
});
