// The real-browser test of token-agent, started by tests/browser.rs (`cargo test`).
//
// Debian's Chromium (/usr/bin/chromium, headless) driven by playwright-core, which never
// downloads a browser. The Rust test starts the fake Graph API, the agent (ALLOWED_DOMAINS =
// the allowed page origin only) and two static servers for pages/, then runs this script
// with:
//
//   SCENARIOS         comma-separated names from `scenarios` below, run in that order
//   AGENT_URL         http://127.0.0.1:A       the agent
//   ALLOWED_PAGE_URL  http://127.0.0.1:P1      origin in ALLOWED_DOMAINS, serves pages/
//   DENIED_PAGE_URL   http://127.0.0.1:P2      the same pages on an origin that is not allowed
//   FAKE_GRAPH_URL    http://127.0.0.1:F/graph.instagram.com   the fake's Instagram Graph base
//   TOKEN             the account's real token, to look for where it must not be
//   EXPECTED_POSTS    how many images each feed must show
//   TOTAL_POSTS       how many posts the account has (the end of "Load more")
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

const TIMEOUT_MS = 140_000;
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

const SCENARIOS = env("SCENARIOS").split(",");
const AGENT_URL = env("AGENT_URL");
const ALLOWED = env("ALLOWED_PAGE_URL");
const DENIED = env("DENIED_PAGE_URL");
const FAKE_GRAPH_URL = env("FAKE_GRAPH_URL");
const TOKEN = env("TOKEN");
const EXPECTED_POSTS = Number(env("EXPECTED_POSTS"));
const TOTAL_POSTS = Number(env("TOTAL_POSTS"));
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

/// Opens `url` in a fresh context and records what crossed the network. With `holdImages`,
/// image requests are left unanswered, so the page is measured before any image loads;
/// `ready` (run in the page) says when it has rendered.
async function visit(name, url, { holdImages = false, ready = () => window.feedState !== "loading" } = {}) {
  const context = await browser.newContext({ viewport: { width: 720, height: 900 } });
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
    if (holdImages && request.resourceType() === "image") {
      return; // never answered: the page lays out images that have not loaded
    }
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
  seen.consoleErrors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") seen.consoleErrors.push(msg.text());
    console.log(`    [${name} console.${msg.type()}] ${msg.text()}`);
  });
  // Before any page script, in every frame: each Content-Security-Policy violation.
  await context.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });

  console.log(`\n${name}: ${url}`);
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(ready, null, { timeout: 15_000 });
  if (!holdImages) {
    // Let every image finish (or fail) before looking at them.
    await page.waitForFunction(() => [...document.images].every((img) => img.complete), null, {
      timeout: 15_000,
    });
    await page.waitForLoadState("networkidle");
  }
  seen.settle = () => Promise.all(bodies);
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
  const cookies = JSON.stringify(await result.context.cookies());
  check(!cookies.includes(TOKEN), `${where}: the token is in no cookie of any origin`);
  const frames = await Promise.all(page.frames().map((f) => f.content().catch(() => "")));
  check(!frames.some((h) => h.includes(TOKEN)), `${where}: the token is in no frame's HTML`);
  check(
    (await page.evaluate(() => typeof InstagramToken)) === "undefined",
    `${where}: InstagramToken is not defined`,
  );
}

function checkClean(seen, where) {
  check(seen.unexpected.length === 0, `${where}: no request left the machine`, seen.unexpected.join(", "));
  check(seen.pageErrors.length === 0, `${where}: no JavaScript error`, seen.pageErrors.join(" | "));
}

/// Whether every embed container on the page has rendered (or given up).
const embedsSettled = () => {
  const boxes = [...document.querySelectorAll("[data-token-agent]")];
  return boxes.length > 0 && boxes.every((b) => b.matches(".ta-feed--ready, .ta-feed--error"));
};

/// The posts of feed.json answers the page received, by the `limit` they asked for.
function feedPosts(seen, limit) {
  const answer = seen.responses.find((r) => {
    const url = new URL(r.url);
    return url.origin === AGENT_URL && url.pathname === "/feed.json" && url.searchParams.get("limit") === String(limit);
  });
  // Bodies are kept as latin1 (to search them byte for byte); JSON is UTF-8.
  return answer ? JSON.parse(Buffer.from(answer.body, "latin1").toString("utf8")).data : [];
}

/// What a visitor's browser shows in the container (or document) `root` of `frame`.
function tiles(frame, root) {
  return frame.evaluate((root) => {
    const box = root ? document.querySelector(root) : document;
    return [...box.querySelectorAll(".ta-feed__item")].map((li) => {
      const a = li.querySelector("a");
      const img = li.querySelector("img");
      const rect = img.getBoundingClientRect();
      return {
        href: a.getAttribute("href"),
        rel: a.getAttribute("rel"),
        target: a.getAttribute("target"),
        alt: img.alt,
        src: img.currentSrc || img.src,
        srcset: img.getAttribute("srcset"),
        width: Number(img.getAttribute("width")),
        height: Number(img.getAttribute("height")),
        loading: img.getAttribute("loading"),
        decoding: img.getAttribute("decoding"),
        naturalWidth: img.naturalWidth,
        box: { width: rect.width, height: rect.height },
        marks: [...li.querySelectorAll(".ta-feed__mark")].map((m) => ({
          kind: m.className,
          spoken: m.querySelector(".ta-feed__sr")?.textContent,
          visible: m.getBoundingClientRect().width > 0,
        })),
      };
    });
  }, root);
}

function checkNoCspViolation(seen, violations, where) {
  check(violations.length === 0, `${where}: no Content-Security-Policy violation`, violations.join(" | "));
  check(seen.consoleErrors.length === 0, `${where}: no console error`, seen.consoleErrors.join(" | "));
}

/// The markup promised for each post, against the feed.json item it shows.
function checkTiles(shown, posts, where) {
  check(shown.length === posts.length && shown.length > 0, `${where}: one tile per post`, `${shown.length} of ${posts.length}`);
  const wrong = [];
  shown.forEach((t, i) => {
    const post = posts[i] ?? {};
    const mirror = post.mirror;
    if (t.href !== post.permalink) wrong.push(`${i}: href ${t.href}`);
    if (t.loading !== "lazy" || t.decoding !== "async") wrong.push(`${i}: loading/decoding`);
    if (!(t.width > 0 && t.height > 0)) wrong.push(`${i}: no width/height attributes`);
    if (mirror && (t.width !== mirror.width || t.height !== mirror.height || !t.srcset)) wrong.push(`${i}: mirror size/srcset`);
    if (!mirror && t.width !== t.height) wrong.push(`${i}: not square without a mirror`);
    const written = (post.alt_text ?? "").trim() ? post.alt_text : post.caption ?? "";
    const text = written.trim().replace(/\s+/g, " ");
    const alt = text ? text : `Instagram post by @${post.username}`;
    if (t.alt !== alt && !(alt.length > 240 && t.alt.endsWith("\u2026"))) wrong.push(`${i}: alt ${JSON.stringify(t.alt)}`);
    const kinds = t.marks.map((m) => `${m.kind.split("--")[1]}:${m.spoken}:${m.visible}`);
    const expected =
      post.media_type === "CAROUSEL_ALBUM" ? ["carousel:Album:true"] : post.media_type === "VIDEO" ? ["video:Video:true"] : [];
    if (JSON.stringify(kinds) !== JSON.stringify(expected)) wrong.push(`${i}: marks ${kinds}`);
  });
  check(wrong.length === 0, `${where}: links, image attributes, alt text and marks match feed.json`, wrong.join("; "));
  const kinds = new Set(posts.map((p) => p.media_type));
  check(kinds.has("VIDEO") && kinds.has("CAROUSEL_ALBUM"), `${where}: the posts include a video and an album`, [...kinds]);
}

function checkLoaded(shown, where) {
  const broken = shown.filter((t) => !(t.naturalWidth > 0));
  check(shown.length > 0 && broken.length === 0, `${where}: every image loaded (naturalWidth > 0)`, JSON.stringify(broken.map((t) => t.src)));
}

const scenarios = {
  // 1. An allowed site: token.js + instafeed.js, which calls graph.instagram.com itself.
  "instafeed-allowed": async () => {
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
  },

  // 2. The same page on a site that is not in ALLOWED_DOMAINS gets no token.
  "instafeed-denied": async () => {
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
  },

  // 3. An allowed site that only fetches /feed.json: images, and no token anywhere.
  "feed-allowed": async () => {
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
  },

  // 4. The feed page on a site that is not allowed gets no feed.
  "feed-denied": async () => {
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
  },

  // 5. The embed on an allowed site with a strict CSP: the posts, their markup, no violation.
  "embed-allowed": async () => {
    const where = "embed-allowed";
    const r = await visit(where, `${ALLOWED}/embed.html`, { ready: embedsSettled });
    await r.seen.settle();
    const script = responseFor(r.seen, "/embed.js");
    check(
      script?.headers["content-type"] === "application/javascript; charset=utf-8",
      `${where}: embed.js is JavaScript`,
      script?.headers["content-type"],
    );
    const state = await r.page.evaluate(() => [...document.querySelectorAll("[data-token-agent]")].map((b) => b.className));
    check(state.every((c) => c.includes("ta-feed--ready")), `${where}: every container rendered`, state);
    const main = await tiles(r.page, "#main");
    check(main.length === EXPECTED_POSTS, `${where}: ${EXPECTED_POSTS} posts in the first container`, main.length);
    checkTiles(main, feedPosts(r.seen, EXPECTED_POSTS), where);
    checkLoaded(main, where);
    check(main.every((t) => t.rel === "noopener" && t.target === null), `${where}: links open normally, rel=noopener`);
    const tagged = r.seen.requests.find((u) => u.startsWith(`${AGENT_URL}/feed.json`) && new URL(u).searchParams.get("tag"));
    check(
      tagged && new URL(tagged).searchParams.get("tag") === "bakery" && new URL(tagged).searchParams.get("limit") === "3",
      `${where}: data-tag and data-limit reach feed.json as tag= and limit=`,
      tagged,
    );
    const second = await tiles(r.page, "#tagged");
    check(second.length >= 1 && second.length <= 3, `${where}: the second container shows its own feed`, second.length);
    const sheets = await r.page.evaluate(() => [...document.querySelectorAll("link[rel=stylesheet]")].map((l) => l.href));
    check(sheets.length === 1 && sheets[0] === `${AGENT_URL}/embed.css`, `${where}: embed.css linked once`, sheets);
    const grid = await r.page.evaluate(() => getComputedStyle(document.querySelector(".ta-feed__grid")).display);
    check(grid === "grid", `${where}: the stylesheet applies (a CSS grid)`, grid);
    checkNoCspViolation(r.seen, await r.page.evaluate(() => window.cspViolations), where);
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  },

  // 5b. With the image host gone and the agent restarted: every post still
  // shows, each image the agent's own copy, with nothing broken.
  "embed-offline": async () => {
    const where = "embed-offline";
    const r = await visit(where, `${ALLOWED}/embed.html`, { ready: embedsSettled });
    await r.seen.settle();
    const state = await r.page.evaluate(() => [...document.querySelectorAll("[data-token-agent]")].map((b) => b.className));
    check(state.every((c) => c.includes("ta-feed--ready")), `${where}: every container rendered`, state);
    const shown = [...(await tiles(r.page, "#main")), ...(await tiles(r.page, "#tagged"))];
    check(shown.length > EXPECTED_POSTS, `${where}: the posts of both containers`, shown.length);
    checkLoaded(shown, where);
    const foreign = shown.filter((t) => !t.src.startsWith(`${AGENT_URL}/media/`));
    check(foreign.length === 0, `${where}: every image is the agent's copy`, JSON.stringify(foreign.map((t) => t.src)));
    checkNoCspViolation(r.seen, await r.page.evaluate(() => window.cspViolations), where);
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  },

  // 6. The embed on a site that is not allowed: nothing renders but a polite note.
  "embed-denied": async () => {
    const where = "embed-denied";
    const r = await visit(where, `${DENIED}/embed.html`, { ready: embedsSettled });
    const feed = responseFor(r.seen, "/feed.json");
    check(feed?.status === 403, `${where}: feed.json answers 403`, feed?.status);
    check(r.images.length === 0, `${where}: no images`, r.images.length);
    const notes = await r.page.evaluate(() =>
      [...document.querySelectorAll("[data-token-agent]")].map((b) => [b.className, b.querySelector(".ta-feed__error")?.textContent]),
    );
    check(
      notes.every(([c, text]) => c.includes("ta-feed--error") && /cannot be shown/.test(text ?? "")),
      `${where}: each container says politely that there is nothing to show`,
      JSON.stringify(notes),
    );
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  },

  // 7. Before any image loads, every box already has its size: nothing moves later.
  "embed-layout": async () => {
    const where = "embed-layout";
    const r = await visit(where, `${ALLOWED}/embed.html`, { holdImages: true, ready: embedsSettled });
    await r.seen.settle();
    const shown = await tiles(r.page, "#main");
    const posts = feedPosts(r.seen, EXPECTED_POSTS);
    check(shown.length === EXPECTED_POSTS, `${where}: ${EXPECTED_POSTS} boxes`, shown.length);
    check(shown.every((t) => t.naturalWidth === 0), `${where}: no image has loaded yet`);
    const off = shown.filter((t, i) => {
      const m = posts[i]?.mirror;
      const expected = m ? m.width / m.height : 1;
      return !(t.box.width > 0 && t.box.height > 0 && Math.abs(t.box.width / t.box.height - expected) < 0.02);
    });
    check(off.length === 0, `${where}: every box is non-zero with the post's aspect ratio`, JSON.stringify(off.map((t) => t.box)));
    await r.page.screenshot({ path: join(SCREENSHOT_DIR, `${where}.png`), fullPage: true });
    await r.context.close();
  },

  // 8. "Load more" appends the next page, and goes away at the end.
  "embed-load-more": async () => {
    const where = "embed-load-more";
    const r = await visit(where, `${ALLOWED}/embed.html`, { ready: embedsSettled });
    const first = (await tiles(r.page, "#main")).map((t) => t.href);
    const more = r.page.locator("#main .ta-feed__more");
    check(await more.isVisible(), `${where}: a Load more button`);
    await more.click();
    await r.page.waitForFunction((n) => document.querySelectorAll("#main .ta-feed__item").length > n, first.length);
    const after = (await tiles(r.page, "#main")).map((t) => t.href);
    check(
      after.length === 2 * first.length && first.every((h, i) => after[i] === h),
      `${where}: the next page is appended after the first`,
      `${first.length} then ${after.length}`,
    );
    const next = r.seen.requests.filter((u) => u.startsWith(`${AGENT_URL}/feed.json`) && new URL(u).searchParams.get("after"));
    check(next.length === 1, `${where}: it followed paging.next on the agent`, next.join(", "));
    for (let i = 0; i < 10 && (await more.count()) > 0; i++) {
      const n = await r.page.locator("#main .ta-feed__item").count();
      await more.click();
      await r.page.waitForFunction(
        (n) => document.querySelectorAll("#main .ta-feed__item").length > n || !document.querySelector("#main .ta-feed__more"),
        n,
      );
      await r.page.waitForFunction(() => document.querySelector("#main").matches(".ta-feed--ready, .ta-feed--error"));
    }
    const all = (await tiles(r.page, "#main")).map((t) => t.href);
    check((await more.count()) === 0, `${where}: the button is gone at the end`);
    check(all.length === TOTAL_POSTS && new Set(all).size === all.length, `${where}: every post once`, `${all.length} of ${TOTAL_POSTS}`);
    await r.page.screenshot({ path: join(SCREENSHOT_DIR, `${where}.png`), fullPage: true });
    checkClean(r.seen, where);
    await r.context.close();
  },

  // 9. /feed.html in an iframe on an allowed site: the same posts, no script, its own next page.
  "frame-allowed": async () => {
    const where = "frame-allowed";
    const r = await visit(where, `${ALLOWED}/frame.html`, { ready: embedsSettled });
    const framed = r.page.frames().find((f) => f.url().startsWith(`${AGENT_URL}/feed.html`));
    check(Boolean(framed), `${where}: the frame loaded feed.html`);
    const wire = responseFor(r.seen, "/feed.html");
    check(wire?.status === 200, `${where}: feed.html answers 200`, wire?.status);
    const inFrame = await tiles(framed, null);
    const embedded = await tiles(r.page, "#main");
    check(
      inFrame.length === EXPECTED_POSTS && JSON.stringify(inFrame.map((t) => t.href)) === JSON.stringify(embedded.map((t) => t.href)),
      `${where}: the frame shows the embed's posts`,
      `${inFrame.length} / ${embedded.length}`,
    );
    checkLoaded(inFrame, where);
    check(inFrame.every((t) => t.target === "_top" && t.rel === "noopener"), `${where}: links leave the frame (target=_top)`);
    const strip = ({ naturalWidth, box, src, ...markup }) => markup;
    check(
      JSON.stringify(inFrame.map(strip)) === JSON.stringify(embedded.map((t) => ({ ...strip(t), target: "_top" }))),
      `${where}: the same markup as the embed`,
    );
    const scripts = await framed.evaluate(() => document.scripts.length);
    check(scripts === 0, `${where}: the frame has no script`, scripts);
    checkNoCspViolation(r.seen, [...(await r.page.evaluate(() => window.cspViolations)), ...(await framed.evaluate(() => window.cspViolations))], where);
    await framed.locator(".ta-feed__more").click();
    await framed.waitForURL(/after=/);
    await framed.waitForSelector(".ta-feed__item");
    const next = (await tiles(framed, null)).map((t) => t.href);
    const seenBefore = new Set(inFrame.map((t) => t.href));
    check(
      next.length === EXPECTED_POSTS && next.every((h) => !seenBefore.has(h)),
      `${where}: Load more shows the next page in the frame`,
      `${next.length} posts`,
    );
    await r.page.screenshot({ path: join(SCREENSHOT_DIR, `${where}-next.png`), fullPage: true });
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  },

  // 9b. Posts without a picture (a withheld reel, an image whose link fails)
  // are tiles that say where to see them, in the embed and in the frame.
  "embed-placeholder": async () => {
    const where = "embed-placeholder";
    const r = await visit(where, `${ALLOWED}/placeholder.html`, { ready: embedsSettled });
    await r.seen.settle();
    const posts = feedPosts(r.seen, 3);
    const framed = r.page.frames().find((f) => f.url().startsWith(`${AGENT_URL}/feed.html`));
    check(Boolean(framed), `${where}: the frame loaded feed.html`);
    const look = (frame, root) =>
      frame.evaluate((root) => {
        const box = root ? document.querySelector(root) : document;
        return [...box.querySelectorAll(".ta-feed__item")].map((li) => {
          const img = li.querySelector("img");
          const hold = li.querySelector(".ta-feed__placeholder");
          const rect = (img ?? hold).getBoundingClientRect();
          return {
            href: li.querySelector("a").getAttribute("href"),
            loaded: img ? img.complete && img.naturalWidth > 0 : null,
            role: hold?.getAttribute("role") ?? null,
            label: hold?.getAttribute("aria-label") ?? null,
            says: hold?.textContent ?? null,
            box: { width: Math.round(rect.width), height: Math.round(rect.height) },
          };
        });
      }, root);
    const shown = await look(r.page, "#withheld");
    check(shown.length === 3 && posts.length === 3, `${where}: one tile per post`, `${shown.length} of ${posts.length}`);
    const video = posts.findIndex((p) => p.media_type === "VIDEO");
    check(
      video >= 0 && !posts[video].media_url && !posts[video].thumbnail_url,
      `${where}: the reel comes without media_url or thumbnail_url`,
      JSON.stringify(posts[video] ?? {}),
    );
    const reel = shown[video] ?? {};
    check(
      reel.role === "img" && reel.says === "Watch on Instagram" && reel.label === (posts[video]?.caption ?? "").trim().replace(/\s+/g, " "),
      `${where}: the withheld reel is a placeholder that says where to watch it, described by its caption`,
      JSON.stringify(reel),
    );
    check(reel.href === posts[video]?.permalink, `${where}: the placeholder links to the post`, reel.href);
    const blank = shown.filter((t) => t.loaded === false);
    check(blank.length === 0, `${where}: no image that failed to load is left as an empty box`, JSON.stringify(blank));
    const failed = shown.filter((t) => t.role === "img" && t.says === "View on Instagram");
    check(failed.length === 1, `${where}: the image whose link failed became a placeholder`, JSON.stringify(shown));
    const squares = shown.filter((t) => t.role === "img").every((t) => t.box.width > 50 && Math.abs(t.box.width - t.box.height) <= 1);
    check(squares, `${where}: placeholders are square tiles of the grid's width`, JSON.stringify(shown.map((t) => t.box)));
    const merged = await look(r.page, "#merged");
    const mergedPosts = feedPosts(r.seen, 6);
    const owners = new Set(mergedPosts.map((p) => p.username));
    check(
      merged.length === 6 && mergedPosts.length === 6 && owners.size === 2,
      `${where}: data-account="withheld,default" shows both accounts' posts in one grid`,
      `${merged.length} tiles; ${[...owners]}`,
    );
    const times = mergedPosts.map((p) => p.timestamp);
    check(
      times.every((t, i) => i === 0 || times[i - 1] >= t),
      `${where}: the merged grid is newest first`,
      JSON.stringify(times),
    );
    const inFrame = framed ? await look(framed, null) : [];
    check(
      inFrame[video]?.role === "img" && inFrame[video]?.says === "Watch on Instagram" && inFrame[video]?.box.width > 50,
      `${where}: the frame shows the same placeholder for the reel`,
      JSON.stringify(inFrame),
    );
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  },

  // 10. The same page on a site that is not allowed: the frame gets nothing.
  "frame-denied": async () => {
    const where = "frame-denied";
    const r = await visit(where, `${DENIED}/frame.html`, { ready: embedsSettled });
    const wire = responseFor(r.seen, "/feed.html");
    check(wire?.status === 403, `${where}: feed.html answers 403`, wire?.status);
    check(r.images.length === 0, `${where}: no images on the page`, r.images.length);
    const framed = r.page.frames().find((f) => f.url().startsWith(`${AGENT_URL}/feed.html`));
    const framedImages = framed ? await framed.evaluate(() => document.images.length) : 0;
    check(framedImages === 0, `${where}: no images in the frame`, framedImages);
    await checkNoToken(r, where);
    checkClean(r.seen, where);
    await r.context.close();
  },
};

try {
  for (const name of SCENARIOS) {
    if (!scenarios[name]) throw new Error(`no scenario named ${name}`);
    await scenarios[name]();
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
