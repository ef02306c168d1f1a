// The real-browser test of token-agent, started by tests/browser.rs (`cargo test`).
//
// Debian's Chromium (/usr/bin/chromium, headless) driven by playwright-core, which never
// downloads a browser. The Rust test starts the fake Graph API, the agent (ALLOWED_DOMAINS =
// the allowed page origin only) and two static servers for pages/, then runs this script
// with:
//
//   AGENT_URL         http://127.0.0.1:A       the agent
//   ALLOWED_PAGE_URL  http://127.0.0.1:P1      origin in ALLOWED_DOMAINS, serves pages/
//   DENIED_PAGE_URL   http://127.0.0.1:P2      the same pages on an origin that is not allowed
//   FAKE_GRAPH_URL    http://127.0.0.1:F/graph.instagram.com   the fake's Instagram Graph base
//   TOKEN             the account's real token, to look for where it must not be
//   EXPECTED_POSTS    how many images each feed must show
//   SCREENSHOT_DIR    where the PNGs go (target/browser-artifacts)
//   CHROMIUM          optional, default /usr/bin/chromium
//
// instafeed.js calls https://graph.instagram.com/me/media itself, unchanged; the browser
// context routes that one host to the fake (same path and query). Every other request must
// stay on loopback: anything else is aborted and fails the test.
//
// Exit status 0 when every check passed, 1 when one failed, 2 on a set-up error or timeout.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const TIMEOUT_MS = 45_000;
const watchdog = setTimeout(() => {
  console.error(`browser test: still running after ${TIMEOUT_MS / 1000} s, giving up`);
  process.exit(2);
}, TIMEOUT_MS);
watchdog.unref();

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (!value) {
    console.error(`browser test: environment variable ${name} is not set (run it through \`cargo test --test browser\`)`);
    process.exit(2);
  }
  return value;
}

const AGENT_URL = env("AGENT_URL");
const ALLOWED = env("ALLOWED_PAGE_URL");
const DENIED = env("DENIED_PAGE_URL");
const FAKE_GRAPH_URL = env("FAKE_GRAPH_URL");
const TOKEN = env("TOKEN");
const EXPECTED_POSTS = Number(env("EXPECTED_POSTS"));
const SCREENSHOT_DIR = env("SCREENSHOT_DIR");
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

if (TOKEN.length < 16) {
  console.error(`browser test: TOKEN looks too short to search for (${TOKEN.length} chars)`);
  process.exit(2);
}
mkdirSync(SCREENSHOT_DIR, { recursive: true });

const failures = [];
function check(ok, what, detail) {
  console.log(`${ok ? "  ok  " : "  FAIL"} ${what}${!ok && detail !== undefined ? `: ${detail}` : ""}`);
  if (!ok) failures.push(what);
}

// The flags the machine notes say this closed network needs; playwright adds --headless
// and its own empty --user-data-dir.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  chromiumSandbox: false,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
  ],
});
console.log(`browser: ${CHROMIUM} ${browser.version()}`);

/// Opens `url` in a fresh context and records what crossed the network.
async function visit(name, url) {
  const context = await browser.newContext({ viewport: { width: 720, height: 480 } });
  const seen = {
    graphCalls: [], // URLs of https://graph.instagram.com requests (as the page made them)
    unexpected: [], // requests that would have left the machine
    requests: [], // every request URL
    responses: [], // { url, status, headers, body (latin1 string) }
    pageErrors: [],
  };
  await context.route("**/*", async (route) => {
    const request = route.request();
    const target = new URL(request.url());
    if (target.protocol === "https:" && target.host === "graph.instagram.com") {
      seen.graphCalls.push(request.url());
      try {
        const upstream = await fetch(FAKE_GRAPH_URL + target.pathname + target.search, {
          method: request.method(),
        });
        const body = Buffer.from(await upstream.arrayBuffer());
        await route.fulfill({
          status: upstream.status,
          headers: {
            "content-type": upstream.headers.get("content-type") ?? "application/json",
            // graph.instagram.com answers CORS requests from any origin.
            "access-control-allow-origin": "*",
          },
          body,
        });
      } catch (err) {
        seen.unexpected.push(`${request.url()} (forwarding to the fake failed: ${err})`);
        await route.abort("failed");
      }
    } else if (LOOPBACK.has(target.hostname) || LOOPBACK.has(target.host.replace(/:\d+$/, ""))) {
      await route.continue();
    } else {
      seen.unexpected.push(request.url());
      await route.abort("blockedbyclient");
    }
  });
  const page = await context.newPage();
  // Statuses as they came off the wire: a refused token.js (403 with a JSON body) is cut off
  // by Chromium's opaque-response blocking (ERR_BLOCKED_BY_ORB) before the page, or
  // playwright's response event, sees it.
  const cdp = await context.newCDPSession(page);
  const urls = new Map();
  const raw = new Map();
  cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url));
  cdp.on("Network.responseReceivedExtraInfo", (e) => raw.set(e.requestId, e));
  seen.wire = () =>
    [...raw].map(([id, e]) => ({
      url: urls.get(id) ?? "",
      status: e.statusCode,
      headers: Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [k.toLowerCase(), v])),
    }));
  await cdp.send("Network.enable");
  const bodies = [];
  page.on("request", (r) => seen.requests.push(r.url()));
  page.on("response", (r) => {
    bodies.push(
      r
        .body()
        .then((b) => b.toString("latin1"))
        .catch(() => "")
        .then(async (body) =>
          seen.responses.push({ url: r.url(), status: r.status(), headers: await r.allHeaders(), body }),
        ),
    );
  });
  page.on("requestfailed", (r) => console.log(`    [${name} requestfailed] ${r.url()} ${r.failure()?.errorText}`));
  page.on("pageerror", (err) => seen.pageErrors.push(String(err)));
  page.on("console", (msg) => console.log(`    [${name} console.${msg.type()}] ${msg.text()}`));

  console.log(`\n${name}: ${url}`);
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.feedState !== "loading", null, { timeout: 15_000 });
  // Let every image finish (or fail) before looking at them.
  await page.waitForFunction(() => [...document.images].every((img) => img.complete), null, {
    timeout: 15_000,
  });
  await page.waitForLoadState("networkidle");
  await Promise.all(bodies);
  const state = await page.evaluate(() => window.feedState);
  const images = await page.evaluate(() =>
    [...document.images].map((img) => ({ src: img.src, width: img.naturalWidth, height: img.naturalHeight })),
  );
  const html = await page.content();
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`    state: ${state}; ${images.length} <img>; screenshot ${file}`);
  return { page, context, seen, state, images, html };
}

/// The agent's answer to `path` as it came off the wire, whether or not the page could read it.
function responseFor(seen, path) {
  return seen.wire().find((r) => r.url.startsWith(AGENT_URL) && new URL(r.url).pathname === path);
}

function checkImages(images, where) {
  check(images.length === EXPECTED_POSTS, `${where}: ${EXPECTED_POSTS} <img> rendered`, `${images.length}`);
  const broken = images.filter((img) => !(img.width > 0 && img.height > 0));
  check(images.length > 0 && broken.length === 0, `${where}: every image loaded (naturalWidth > 0)`, JSON.stringify(broken));
  const offHost = images.filter((img) => !URL.canParse(img.src) || !LOOPBACK.has(new URL(img.src).hostname));
  check(offHost.length === 0, `${where}: images come from the fake's CDN on loopback`, JSON.stringify(offHost));
}

/// The token must appear in no request, no response the page received, the DOM or JS state.
async function checkNoToken(result, where) {
  const { page, seen, html } = result;
  check(!html.includes(TOKEN), `${where}: the token is not in the page's HTML`);
  const inUrls = seen.requests.filter((u) => u.includes(TOKEN));
  check(inUrls.length === 0, `${where}: the token is in no request URL`, inUrls.join(", "));
  const inBodies = seen.responses.filter((r) => r.body.includes(TOKEN)).map((r) => r.url);
  check(inBodies.length === 0, `${where}: the token is in no response the page received`, inBodies.join(", "));
  const jsState = await page.evaluate(() => {
    const parts = [document.cookie, JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })];
    parts.push(typeof InstagramToken === "undefined" ? "" : String(InstagramToken));
    for (const key of Object.getOwnPropertyNames(window)) {
      try {
        const value = window[key];
        if (typeof value === "string") parts.push(value);
        else if (value && typeof value === "object" && !(value instanceof Node) && value !== window) {
          parts.push(JSON.stringify(value) ?? "");
        }
      } catch {
        // cyclic or inaccessible: not page data
      }
    }
    return parts.join("\n");
  });
  check(!jsState.includes(TOKEN), `${where}: the token is in no global JS value, cookie or storage`);
  check(
    (await page.evaluate(() => typeof InstagramToken)) === "undefined",
    `${where}: InstagramToken is not defined`,
  );
}

function checkClean(seen, where) {
  check(seen.unexpected.length === 0, `${where}: no request left the machine`, seen.unexpected.join(", "));
  check(seen.pageErrors.length === 0, `${where}: no JavaScript error`, seen.pageErrors.join(" | "));
}

try {
  // 1. An allowed site: token.js + instafeed.js, which calls graph.instagram.com itself.
  {
    const where = "instafeed-allowed";
    const r = await visit(where, `${ALLOWED}/instafeed.html`);
    const tokenJs = responseFor(r.seen, "/token.js");
    check(tokenJs?.status === 200, `${where}: token.js answers 200`, tokenJs?.status);
    check(
      /javascript/.test(tokenJs?.headers["content-type"] ?? ""),
      `${where}: token.js is JavaScript`,
      tokenJs?.headers["content-type"],
    );
    const pageToken = await r.page.evaluate(() => (typeof InstagramToken === "undefined" ? null : InstagramToken));
    check(pageToken === TOKEN, `${where}: InstagramToken is the account's current token`, pageToken);
    check(r.seen.graphCalls.length === 1, `${where}: instafeed.js called graph.instagram.com once`, r.seen.graphCalls.length);
    const call = r.seen.graphCalls[0] ? new URL(r.seen.graphCalls[0]) : null;
    check(call?.pathname === "/me/media", `${where}: … at /me/media`, call?.pathname);
    check(call?.searchParams.get("access_token") === TOKEN, `${where}: … with the token from token.js`);
    check(r.state === "done", `${where}: instafeed.js finished without error`, r.state);
    // The fake seeds a caption with quotes and angle brackets: it must stay inside title="…".
    const stray = await r.page.evaluate(() => document.getElementById("instafeed").textContent.trim());
    check(stray === "", `${where}: no caption text spilled out of the tiles`, JSON.stringify(stray));
    const titles = await r.page.evaluate(() => [...document.querySelectorAll("#instafeed img")].map((i) => i.title));
    check(
      titles.some((t) => t.includes('"quotes" & <angles>')),
      `${where}: a caption with quotes and <angles> is an intact title`,
      JSON.stringify(titles),
    );
    checkImages(r.images, where);
    checkClean(r.seen, where);
    await r.context.close();
  }

  // 2. The same page on a site that is not in ALLOWED_DOMAINS gets no token.
  {
    const where = "instafeed-denied";
    const r = await visit(where, `${DENIED}/instafeed.html`);
    const tokenJs = responseFor(r.seen, "/token.js");
    check(tokenJs?.status === 403, `${where}: token.js answers 403`, tokenJs?.status);
    check(r.state === "no-token", `${where}: the page saw no token`, r.state);
    check(r.seen.graphCalls.length === 0, `${where}: nothing called graph.instagram.com`, r.seen.graphCalls.length);
    check(r.images.length === 0, `${where}: no images`, r.images.length);
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  }

  // 3. An allowed site that only fetches /feed.json: images, and no token anywhere.
  {
    const where = "feed-allowed";
    const r = await visit(where, `${ALLOWED}/feed.html`);
    const feed = responseFor(r.seen, "/feed.json");
    check(feed?.status === 200, `${where}: feed.json answers 200`, feed?.status);
    check(
      feed?.headers["access-control-allow-origin"] === ALLOWED,
      `${where}: feed.json echoes the page's origin in CORS`,
      feed?.headers["access-control-allow-origin"],
    );
    check(r.state === "done", `${where}: the page rendered the feed`, r.state);
    const tokenUrls = r.seen.requests.filter((u) => /\/token(\.js|\.json)?(\?|$)/.test(new URL(u).pathname));
    check(tokenUrls.length === 0, `${where}: the page asked for no token URL`, tokenUrls.join(", "));
    check(r.seen.graphCalls.length === 0, `${where}: the browser never called graph.instagram.com`, r.seen.graphCalls.length);
    checkImages(r.images, where);
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  }

  // 4. The feed page on a site that is not allowed gets no feed.
  {
    const where = "feed-denied";
    const r = await visit(where, `${DENIED}/feed.html`);
    const feed = responseFor(r.seen, "/feed.json");
    check(feed?.status === 403, `${where}: feed.json answers 403`, feed?.status);
    check(
      feed?.headers["access-control-allow-origin"] === undefined,
      `${where}: feed.json allows no CORS read`,
      feed?.headers["access-control-allow-origin"],
    );
    check(r.state.startsWith("error"), `${where}: the page got no feed`, r.state);
    check(r.images.length === 0, `${where}: no images`, r.images.length);
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  }
} catch (err) {
  console.error(`browser test: ${err?.stack ?? err}`);
  failures.push(`exception: ${err?.message ?? err}`);
} finally {
  await browser.close();
}

if (failures.length > 0) {
  console.error(`\nbrowser test: ${failures.length} check(s) failed:\n  - ${failures.join("\n  - ")}`);
  process.exit(1);
}
console.log(`\nbrowser test: all checks passed; screenshots in ${SCREENSHOT_DIR}`);
