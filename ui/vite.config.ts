// Vite builds the dashboard from ui/ into web/dist, which the Go binary
// embeds. The output is deterministic (fixed file names, no source maps), so
// CI can rebuild it and compare with the committed copy (ui/check-dist.sh).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));
const outDir = process.env.LOUPE_DIST_DIR || fileURLToPath(new URL("../web/dist", import.meta.url));

export default defineConfig({
  root,
  base: "./",
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    assetsInlineLimit: 0,
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
  // `LOUPE_TOKEN=T npm run dev`: the dev server forwards /api (and the
  // websocket) to a running Loupe, adding the token and dropping the Origin
  // (the dashboard refuses foreign origins, and the dev server is one).
  server: {
    proxy: {
      "/api": {
        target: process.env.LOUPE_DEV_BACKEND || "http://127.0.0.1:8081",
        ws: true,
        headers: process.env.LOUPE_TOKEN ? { Authorization: `Bearer ${process.env.LOUPE_TOKEN}` } : {},
        configure(proxy) {
          proxy.on("proxyReq", (req) => req.removeHeader("origin"));
          proxy.on("proxyReqWs", (req) => req.removeHeader("origin"));
        },
      },
    },
  },
  test: {
    root,
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
