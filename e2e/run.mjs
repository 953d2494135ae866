// Plays a list of cases in Debian's Chromium (headless) and writes what each page found.
//
//   node e2e/run.mjs CASES.json RESULTS.json [--concurrency N] [--shots DIR]
//
// CASES.json: [{"id": "...", "url": "http://127.0.0.1:PORT/e2e/player.html?...", "init": PATH}], where the
// optional "init" is a script run in the page before the page's own (e2e/probe.js measures pages other
// than player.html), "networkKbps" the page's network (default NETWORK_KBPS; 0: not throttled) and
// "shotEveryMs" how often it is screenshot (default SHOT_EVERY_MS; 0: never). Whenever a page's
// window.e2e.phase changes, a line "e2e: <id>: phase <phase>" goes to stderr at once (the live tests
// stop their channel when every page says "awaiting-end"). Each case gets its own page in one browser with a fresh profile; the page (player.js
// or probe.js) decides when it is done. RESULTS.json: {"results": {id: window.e2e plus the page's HTTP
// status, console errors and page errors}}. The verdicts
// are the caller's (e2e/tests): this script only reports.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
const SHOT_EVERY_MS = 1000;
// The page's network while it plays: several times the top rung of the test packages, so every player
// can afford it, but not the unbounded speed of 127.0.0.1, which lets a player buffer a whole title
// before its ABR has made a second decision.
const NETWORK_KBPS = 4000;
const LATENCY_MS = 20;
const PAGE_GRACE_MS = 15000; // beyond the page's own timeout, for loading the page and the player

function parseArgs(argv) {
  const [casesPath, resultsPath, ...rest] = argv;
  if (!casesPath || !resultsPath) throw new Error('usage: run.mjs CASES.json RESULTS.json [--concurrency N] [--shots DIR]');
  const opts = { casesPath, resultsPath, concurrency: 3, shots: null };
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === '--concurrency') opts.concurrency = Number(rest[i + 1]);
    else if (rest[i] === '--shots') opts.shots = rest[i + 1];
    else throw new Error(`unknown option ${rest[i]}`);
  }
  return opts;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const throttle = (cdp, kbps) =>
  cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: LATENCY_MS,
    downloadThroughput: (kbps * 1000) / 8,
    uploadThroughput: -1,
  });

// Once the page has its player ready (library loaded at full speed): throttles the network to
// NETWORK_KBPS and lets the player start. Until the page is done it screenshots it about once a second
// and hands each picture to the page (window.e2eCapture), which measures it.
async function watch(page, cdp, timeout, c) {
  const deadline = Date.now() + timeout;
  const kbps = c.networkKbps ?? NETWORK_KBPS;
  const shotEvery = c.shotEveryMs ?? SHOT_EVERY_MS;
  await page.waitForFunction(() => window.e2e && (window.e2e.ready || window.e2e.done), null, { timeout, polling: 50 });
  await cdp.send('Network.enable');
  if (kbps > 0) await throttle(cdp, kbps);
  await page.evaluate(() => window.e2eGo && window.e2eGo());
  let nextShot = 0;
  let phase = null;
  for (;;) {
    const state = await page.evaluate(
      () => window.e2e && { done: window.e2e.done, playing: window.e2e.firstFrameMs !== null, phase: window.e2e.phase },
    );
    if (state && state.phase && state.phase !== phase) {
      phase = state.phase;
      process.stderr.write(`e2e: ${c.id}: phase ${phase}\n`);
    }
    if (state && state.done) return;
    if (Date.now() > deadline) throw new Error(`page not done after ${timeout} ms`);
    if (shotEvery > 0 && state && state.playing && Date.now() >= nextShot) {
      nextShot = Date.now() + shotEvery;
      const png = await page.screenshot({ type: 'png' });
      await page.evaluate((b64) => window.e2eCapture(b64), png.toString('base64'));
    }
    await sleep(100);
  }
}

async function playOne(context, c, shots) {
  const page = await context.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text().slice(0, 500)));
  page.on('pageerror', (e) => pageErrors.push(String(e).slice(0, 500)));
  const timeout = Number(new URL(c.url).searchParams.get('timeout') || 30000) + PAGE_GRACE_MS;
  const started = Date.now();
  let result;
  try {
    // A page that is not player.html (the edge's own pages) is measured by a script run before its own.
    if (c.init) await page.addInitScript({ path: c.init });
    const response = await page.goto(c.url, { timeout });
    await watch(page, await context.newCDPSession(page), timeout, c);
    result = { ...(await page.evaluate(() => window.e2e)), httpStatus: response ? response.status() : null };
    if (shots) await page.screenshot({ path: path.join(shots, `${c.id}.png`) });
  } catch (err) {
    result = { done: false, fatal: `driver: ${String(err).split('\n')[0]}` };
  } finally {
    await page.close();
  }
  return { ...result, wallMs: Date.now() - started, consoleErrors, pageErrors };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cases = JSON.parse(fs.readFileSync(opts.casesPath, 'utf8'));
  if (opts.shots) fs.mkdirSync(opts.shots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vodflow-e2e-chromium-'));
  // launchPersistentContext is how Playwright takes a --user-data-dir: a fresh one for every run.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 640, height: 360 },
  });
  const results = {};
  try {
    const queue = [...cases];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        results[c.id] = await playOne(context, c, opts.shots);
        process.stderr.write(`e2e: ${c.id}: ${results[c.id].doneReason || results[c.id].fatal} (${results[c.id].wallMs} ms)\n`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
    fs.writeFileSync(opts.resultsPath, JSON.stringify({ results }, null, 1));
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(2);
});
