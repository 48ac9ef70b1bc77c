// The size budget: each entry point bundled and minified with esbuild, then gzipped (level 9).
// Fails when the core is over its budget. Run: npm run size
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

const BUDGETS = { "src/index.ts": 8 * 1024, "src/react.ts": 4 * 1024 };

let over = false;
for (const [entry, budget] of Object.entries(BUDGETS)) {
  const out = await build({
    entryPoints: [entry], bundle: true, minify: true, format: "esm", target: "es2020",
    external: ["react"], write: false,
  });
  const code = out.outputFiles[0].contents;
  const gz = gzipSync(code, { level: 9 }).length;
  const verdict = gz <= budget ? "ok" : "OVER BUDGET";
  console.log(`${entry}: ${code.length} B minified, ${gz} B gzipped (budget ${budget} B) ${verdict}`);
  over ||= gz > budget;
}
process.exit(over ? 1 : 0);
