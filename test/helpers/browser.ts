// A real browser for the CORS tests: Debian's chromium driven by
// playwright-core, and a page server on an origin of its own that serves the
// openai SDK's ESM build, as a web app would bundle it.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { dirname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

/** The browser binary: $CHROMIUM_PATH, else the usual Debian and Chrome paths; undefined when it is not there. */
export function findChromium(): string | undefined {
  const own = process.env.CHROMIUM_PATH;
  if (own) return existsSync(own) ? own : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  // Chromium's sandbox refuses to run as root, as CI containers do; /dev/shm is small in containers.
  const args = ["--disable-dev-shm-usage", ...(process.getuid?.() === 0 ? ["--no-sandbox"] : [])];
  return chromium.launch({ executablePath, args, headless: true });
}

/** The openai package's folder, whose .mjs files (and the one .js they import) load in a browser as they are. */
const SDK_ROOT = dirname(fileURLToPath(import.meta.resolve("openai")));

/**
 * The page's script: window.checks holds what the test runs in the page, each
 * returning plain JSON. Plain JavaScript in a string, since it runs in the
 * browser, not in Node.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>broker CORS check</title>
<script type="module">
import OpenAI from "/openai/index.mjs";
const messages = [{ role: "user", content: "hi from a browser" }];
window.checks = {
  // The official SDK, as a browser app uses it: a bearer key, its x-stainless-* headers, ours.
  async sdk(baseURL) {
    const client = new OpenAI({ baseURL, apiKey: "sk-browser-test", dangerouslyAllowBrowser: true, maxRetries: 0 });
    const whole = await client.chat.completions
      .create({ model: "sim", messages }, { headers: { "x-request-id": "browser-whole", "x-priority": "high" } })
      .withResponse();
    const streamed = await client.chat.completions
      .create({ model: "sim", messages, stream: true }, { headers: { "x-request-id": "browser-stream" } })
      .withResponse();
    let text = "";
    let chunks = 0;
    for await (const c of streamed.data) {
      chunks++;
      text += c.choices[0]?.delta?.content ?? "";
    }
    return {
      whole: { requestId: whole.response.headers.get("x-request-id"), object: whole.data.object, content: whole.data.choices[0]?.message?.content ?? "" },
      stream: { requestId: streamed.response.headers.get("x-request-id"), contentType: streamed.response.headers.get("content-type"), chunks, text },
    };
  },
  // A page's own fetch and a streaming read of the body.
  async fetchStream(baseURL) {
    const res = await fetch(baseURL + "/chat/completions", {
      method: "POST",
      headers: { authorization: "Bearer sk-browser-test", "content-type": "application/json" },
      body: JSON.stringify({ model: "sim", messages, stream: true }),
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let raw = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
    }
    return { status: res.status, requestId: res.headers.get("x-request-id"), done: raw.includes("data: [DONE]") };
  },
  // An error answer must be readable too: status, body and headers.
  async notFound(baseURL) {
    const res = await fetch(baseURL + "/chat/completions", {
      method: "POST",
      headers: { authorization: "Bearer sk-browser-test", "content-type": "application/json" },
      body: JSON.stringify({ model: "no-such-model", messages }),
    });
    return { status: res.status, requestId: res.headers.get("x-request-id"), code: (await res.json()).error.code };
  },
  // From an origin the gateway does not list, the browser must refuse.
  async blocked(baseURL) {
    try {
      const res = await fetch(baseURL + "/chat/completions", {
        method: "POST",
        headers: { authorization: "Bearer sk-browser-test", "content-type": "application/json" },
        body: JSON.stringify({ model: "sim", messages }),
      });
      return "allowed: " + res.status;
    } catch (e) {
      return "refused: " + e;
    }
  },
};
window.pageReady = true;
</script>
`;

export interface PageServer {
  /** http://127.0.0.1:port, the page's origin. */
  origin: string;
  close(): Promise<void>;
}

/** Serves the page at / and the SDK's modules under /openai/, on a port of its own (an origin of its own). */
export async function servePage(): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
      return;
    }
    const file = normalize(join(SDK_ROOT, path.replace(/^\/openai\//, "")));
    if (!path.startsWith("/openai/") || !file.startsWith(SDK_ROOT + sep) || !/\.m?js$/.test(file)) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      // Cached, so the second page of a test loads the SDK's ~450 modules from memory.
      (body) => res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "max-age=600" }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
