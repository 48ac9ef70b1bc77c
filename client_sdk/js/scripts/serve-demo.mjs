// Serve the demo page on 127.0.0.1, with the SDK bundled from src/ by esbuild on each load.
//   node scripts/serve-demo.mjs [--port 5173]
// then open http://127.0.0.1:5173/?api=http://127.0.0.1:8080&token=<user token>
import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const FILES = {
  "/": ["demo/index.html", "text/html"],
  "/demo.js": ["demo/demo.js", "text/javascript"],
  "/sw.js": ["demo/sw.js", "text/javascript"],
};

/** Start the demo server; resolves to its origin. */
export async function serveDemo(port = 0) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    try {
      let body;
      let type = "text/javascript";
      if (path === "/waymark.js") {
        const out = await build({ entryPoints: [`${root}src/index.ts`], bundle: true, format: "esm", target: "es2020", write: false });
        body = out.outputFiles[0].contents;
      } else if (FILES[path]) {
        body = await readFile(`${root}${FILES[path][0]}`);
        type = FILES[path][1];
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" }).end(body);
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--port");
  const { origin } = await serveDemo(at > 0 ? Number(process.argv[at + 1]) : 5173);
  console.log(`demo on ${origin}/?api=http://127.0.0.1:8080&token=<user token>`);
}
