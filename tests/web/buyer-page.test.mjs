// End-to-end test of the buyer page (/buy/{id}) in headless Chromium against real servers.
//
// Starts its own redis-server, a fresh database in the PostgreSQL cluster named by
// FLASHSALE_TEST_PG_URL (a superuser URL; deploy/local/test exports it) and flashsale-server
// (FLASHSALE_SERVER_BIN, default build/bin/flashsale-server), all on free loopback ports, and
// stops them afterwards. Drives Debian's /usr/bin/chromium (FLASHSALE_CHROMIUM) through
// playwright-core. UPDATE_SCREENSHOTS=1 rewrites docs/buyer-page.png and
// docs/buyer-waiting-room-{lobby,queued,booked}.png.
//
//   cd tests/web && npm ci && FLASHSALE_TEST_PG_URL=... node buyer-page.test.mjs
//
// Exits 0 when every check passes, 1 with the failing check (and the server log's tail) if not.

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const WATCHDOG_MS = Number(process.env.FLASHSALE_WEB_TEST_TIMEOUT_MS || 200000);
const started = Date.now();

const log = (...args) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class CheckFailed extends Error {}
function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

// ---- what this run started, stopped in reverse order ----------------------------------------

const cleanups = [];
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        console.error(`cleanup: ${e.message}`);
      }
    }
  })();
  return cleaning;
}

function fail(message) {
  console.error(`\nFAIL web/buyerpage: ${message}`);
  process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    fail(`interrupted by ${signal}`);
    cleanup().finally(() => process.exit(1));
  });
}

// ---- servers --------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function stopProcess(child, name) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    log(`${name} did not stop within 10 s; killing it`);
    child.kill('SIGKILL');
  }, 10000);
  await gone;
  clearTimeout(timer);
}

function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(500, () => sock.destroy());
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d;
      if (data.includes('\r\n')) {
        sock.destroy();
        resolve(data.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
    sock.on('close', () => resolve(false));
  });
}

async function startRedis(dir) {
  const port = await freePort();
  const bin = process.env.FLASHSALE_TEST_REDIS_SERVER || 'redis-server';
  const out = fs.openSync(path.join(dir, 'redis.log'), 'a');
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no'], { stdio: ['ignore', out, out] });
  cleanups.push(() => stopProcess(child, 'redis-server'));
  const spawnError = new Promise((resolve) => child.once('error', resolve));
  for (let i = 0; i < 100; i++) {
    if (await redisPing(port)) return `redis://127.0.0.1:${port}/0`;
    const err = await Promise.race([spawnError, sleep(50).then(() => null)]);
    if (err) throw new CheckFailed(`cannot start ${bin}: ${err.message}`);
    if (child.exitCode !== null) break;
  }
  throw new CheckFailed(`redis-server did not answer PING on port ${port}: ${fs.readFileSync(path.join(dir, 'redis.log'), 'utf8').slice(-800)}`);
}

function psql(url, sql) {
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function createDatabase() {
  const admin = process.env.FLASHSALE_TEST_PG_URL;
  const name = `fs_web_${process.pid}_${crypto.randomInt(1000000)}`;
  try {
    psql(admin, `CREATE DATABASE ${name}`);
  } catch (e) {
    throw new CheckFailed(`cannot create database ${name} through FLASHSALE_TEST_PG_URL: ${String(e.stderr || e.message).trim()}`);
  }
  cleanups.push(() => psql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

const serverBin = () => process.env.FLASHSALE_SERVER_BIN || path.join(ROOT, 'build/bin/flashsale-server');

// `roles`: the waiting-room scenarios add the scheduler (the seal and admission) on a server of
// their own, so its passes do not share the other scenarios' clocks and event loops.
async function startServer(dir, redisUrl, pgUrl, roles = 'api,worker') {
  const bin = serverBin();
  const readyFile = path.join(dir, 'ready');
  const logFile = path.join(dir, 'server.log');
  const adminToken = crypto.randomBytes(16).toString('hex');
  const secret = crypto.randomBytes(36).toString('base64url'); // 48 characters
  // The server reads FLASHSALE_* variables too: keep the caller's out of it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLASHSALE_')));
  const out = fs.openSync(logFile, 'a');
  const args = ['--roles', roles, '--dev-user-ids', '--buyer-token-secret', secret,
    '--admin-token', adminToken, '--listen', '127.0.0.1', '--port', '0', '--threads', '2',
    '--redis-url', redisUrl, '--pg-url', pgUrl, '--ready-file', readyFile,
    // Every buyer of the page runs from 127.0.0.1 and retries: the per-IP and per-user limits
    // (on by default) would answer before the sale's own bucket that the test is about.
    '--rate-limit-ip', '0', '--rate-limit-user', '0'];
  if (roles.includes('scheduler')) args.push('--scheduler-tick-ms', '100');
  const child = spawn(bin, args, { stdio: ['ignore', out, out], env });
  cleanups.push(() => stopProcess(child, 'flashsale-server'));
  const serverLogTail = () => fs.readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
  for (let i = 0; i < 300; i++) {
    if (fs.existsSync(readyFile)) {
      const url = fs.readFileSync(readyFile, 'utf8').trim();
      if (url.startsWith('http')) return { url, adminToken, child, serverLogTail };
    }
    if (child.exitCode !== null) {
      throw new CheckFailed(`flashsale-server exited with code ${child.exitCode} before it was ready:\n${serverLogTail()}`);
    }
    await sleep(100);
  }
  throw new CheckFailed(`flashsale-server wrote no URL to its ready file within 30 s:\n${serverLogTail()}`);
}

// ---- the API, from the test's side -------------------------------------------------------------

async function http(method, url, { body, headers = {} } = {}) {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}

function createSale(server, fields) {
  const now = Date.now();
  const sale = {
    name: 'Test drop', per_user_limit: 2, price_cents: 1999, stock: 10,
    starts_at: new Date(now - 60000).toISOString(), ends_at: new Date(now + 3600000).toISOString(),
    hold_seconds: 300, ...fields,
  };
  return http('POST', `${server.url}/api/v1/admin/sales`, {
    body: sale, headers: { Authorization: `Bearer ${server.adminToken}` },
  }).then((r) => {
    check(r.status === 201 && r.json && Number.isInteger(r.json.id),
      `POST /api/v1/admin/sales ${JSON.stringify(sale)} answered ${r.status}: ${r.text.slice(0, 400)}`);
    return r.json.id;
  });
}

// The Authorization header of `user`, with a dev token: only a reservation's owner may read it.
async function ownerHeaders(server, user) {
  const tok = await http('POST', `${server.url}/api/v1/dev/tokens`, { body: { user_id: user, ttl_seconds: 600 } });
  check(tok.status === 201, `POST /api/v1/dev/tokens answered ${tok.status}: ${tok.text.slice(0, 300)}`);
  return { Authorization: `Bearer ${tok.json.token}` };
}

// A booking from the test itself (dev token, challenge solved with the page's solver).
async function bookWithPow(server, saleId, user) {
  const tok = await http('POST', `${server.url}/api/v1/dev/tokens`, { body: { user_id: user, ttl_seconds: 600 } });
  check(tok.status === 201, `POST /api/v1/dev/tokens answered ${tok.status}: ${tok.text.slice(0, 300)}`);
  const auth = { Authorization: `Bearer ${tok.json.token}` };
  const ch = await http('POST', `${server.url}/api/v1/sales/${saleId}/challenge`, { body: {}, headers: auth });
  check(ch.status === 201, `POST /api/v1/sales/${saleId}/challenge answered ${ch.status}: ${ch.text.slice(0, 300)}`);
  const { solution } = powSolver().solve(ch.json.challenge, ch.json.difficulty);
  return http('POST', `${server.url}/api/v1/sales/${saleId}/book`, {
    body: { quantity: 1 },
    headers: { ...auth, 'X-Pow-Challenge': ch.json.challenge, 'X-Pow-Solution': solution },
  });
}

// ---- the proof-of-work solver, checked in Node against Node's crypto ---------------------------

let solver = null;
function powSolver() {
  if (!solver) {
    const sandbox = { module: { exports: {} }, TextEncoder };
    vm.runInNewContext(fs.readFileSync(path.join(ROOT, 'resources/www/pow-worker.js'), 'utf8'), sandbox);
    solver = sandbox.module.exports;
  }
  return solver;
}

function checkPowSolver() {
  const { sha256Hex, solve } = powSolver();
  for (let len = 0; len < 200; len += 1) {
    const text = 'v1.7.' + 'é'.repeat(len % 3) + 'x'.repeat(len);
    const want = crypto.createHash('sha256').update(text).digest('hex');
    check(sha256Hex(text) === want, `pow-worker.js SHA-256 differs from Node's for a ${len}-character input`);
  }
  const challenge = `v1.3.YWxpY2U.${crypto.randomBytes(8).toString('hex')}.16.${Date.now() + 60000}.${crypto.randomBytes(32).toString('base64url')}`;
  const r = solve(challenge, 16);
  const digest = crypto.createHash('sha256').update(`${challenge}:${r.solution}`).digest();
  check(digest[0] === 0 && digest[1] === 0, `pow-worker.js solution ${r.solution} has no 16 leading zero bits`);
  log(`pow solver ok: 16 bits in ${r.hashes} hashes, ${r.ms} ms in Node`);
}

// ---- the browser ----------------------------------------------------------------------------------

async function openBuyerPage(browser, server, saleId, user, { scale = 1 } = {}) {
  const context = await browser.newContext({ viewport: { width: 520, height: 860 }, deviceScaleFactor: scale });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Chromium logs every 4xx answer as "Failed to load resource"; those are the point here.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.problems = problems;
  // Every result state the page shows, in order (some last only a second).
  await page.addInitScript(() => {
    window.__states = [];
    // When the page first sends a booking (the armed scenario checks it is at the opening).
    const fetchBefore = window.fetch;
    window.fetch = function (input, init) {
      const url = typeof input === 'string' ? input : input.url;
      if (/\/book$/.test(url) && !window.__firstBookAt) window.__firstBookAt = Date.now();
      return fetchBefore.apply(this, arguments);
    };
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('result');
      new MutationObserver(() => {
        const s = el.dataset.state;
        if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
      }).observe(el, { attributes: true, attributeFilter: ['data-state'] });
      const buy = document.getElementById('buy');
      new MutationObserver(() => {
        if (!buy.disabled && !window.__enabledAt) window.__enabledAt = Date.now();
      }).observe(buy, { attributes: true, attributeFilter: ['disabled'] });
    });
  });
  const res = await page.goto(`${server.url}/buy/${saleId}`);
  check(res && res.status() === 200, `GET /buy/${saleId} answered ${res && res.status()}`);
  await page.waitForFunction(() => document.getElementById('sale-name').textContent !== 'Loading…', null, { timeout: 5000 });
  const name = await page.textContent('#sale-name');
  check(!/not found|unavailable|Cannot reach/i.test(name), `the page could not load sale ${saleId}: "${name}"`);
  // Identity: the dev-mode form fetches a token from POST /api/v1/dev/tokens.
  await page.fill('#user-id', user);
  await page.click('#dev-login-submit');
  try {
    await page.waitForSelector('#signed-in:not([hidden])', { timeout: 5000 });
  } catch {
    throw new CheckFailed(`signing in as ${user} failed: "${await page.textContent('#identity-error')}"`);
  }
  check((await page.textContent('#user-name')) === user, `the page does not show the user ${user}`);
  return { page, context };
}

async function resultOf(page) {
  return page.evaluate(() => ({
    state: document.getElementById('result').dataset.state,
    title: document.getElementById('result-title').textContent,
    detail: document.getElementById('result-detail').textContent,
    states: window.__states.join(' → '),
  }));
}

async function waitForState(page, state, timeout, what) {
  try {
    await page.waitForSelector(`#result[data-state="${state}"]`, { timeout });
  } catch {
    const r = await resultOf(page);
    throw new CheckFailed(`${what}: expected the "${state}" state within ${timeout} ms, the page shows ` +
      `"${r.state}": ${r.title} / ${r.detail} (states: ${r.states})`);
  }
  return resultOf(page);
}

// How far ahead a sale with a countdown starts. The page must load, show the countdown and let it
// tick before the start: on a loaded 2-core machine opening a page has taken 3.5 s.
const LEAD_MS = 8000;

// (a) countdown → unlock at the start (server clock) → proof of work → held
async function scenarioCountdownAndHeld(browser, server) {
  const startsAtMs = Date.now() + LEAD_MS;
  const saleId = await createSale(server, {
    name: 'Midnight phone drop', stock: 10, per_user_limit: 2, price_cents: 19900, pow_difficulty: 12,
    starts_at: new Date(startsAtMs).toISOString(),
  });
  const { page, context } = await openBuyerPage(browser, server, saleId, 'alice', { scale: 2 });
  const first = Number(await page.getAttribute('#countdown', 'data-ms'));
  const firstText = await page.textContent('#countdown');
  check(/^\d\d:\d\d:\d\d\.\d$/.test(firstText), `countdown text "${firstText}" is not HH:MM:SS.t`);
  check(first > 0 && first < LEAD_MS + 1000, `countdown shows ${first} ms to a start ${startsAtMs - Date.now()} ms away`);
  check(await page.isDisabled('#buy'), 'the Buy button is enabled before the start');
  await sleep(600);
  const second = Number(await page.getAttribute('#countdown', 'data-ms'));
  check(second > 0 && second < first - 300, `the countdown did not decrease: ${first} ms, then ${second} ms 600 ms later`);
  check(await page.isDisabled('#buy'), 'the Buy button is enabled before the start');
  log(`(a) countdown ${firstText} → ${await page.textContent('#countdown')}, button disabled`);

  await page.waitForSelector('#buy:not([disabled])', { timeout: LEAD_MS + 5000 });
  const unlockedAt = await page.evaluate(() => window.__enabledAt);
  // Redis and this process share the machine's clock: the page must not unlock early.
  check(unlockedAt >= startsAtMs - 150, `the Buy button unlocked ${startsAtMs - unlockedAt} ms before the start`);
  const sync = await page.evaluate(() => ({ ...document.getElementById('clock-sync').dataset }));
  log(`(a) button enabled ${unlockedAt - startsAtMs} ms after starts_at (page's clock offset ${sync.offsetMs} ms, rtt ${sync.rttMs} ms)`);

  await page.click('#buy');
  const held = await waitForState(page, 'held', 15000, '(a) booking with a proof of work');
  check(/Held for you/.test(held.title), `(a) held title: "${held.title}"`);
  check(/Held until \d\d:\d\d:\d\d · \d\d:\d\d left/.test(held.detail), `(a) held detail: "${held.detail}"`);
  const powText = await page.textContent('#pow-status');
  check(/solved/i.test(powText), `(a) the proof of work does not show as solved: "${powText}"`);
  const reservationId = await page.getAttribute('#result', 'data-reservation-id');
  const anonymous = await http('GET', `${server.url}/api/v1/reservations/${encodeURIComponent(reservationId)}`);
  check(anonymous.status === 404, `(a) GET /api/v1/reservations/${reservationId} without a token answered ${anonymous.status}`);
  const r = await http('GET', `${server.url}/api/v1/reservations/${encodeURIComponent(reservationId)}`,
    { headers: await ownerHeaders(server, 'alice') });
  check(r.status === 200 && ['reserved', 'pending'].includes(r.json && r.json.status),
    `(a) GET /api/v1/reservations/${reservationId} answered ${r.status}: ${r.text.slice(0, 300)}`);
  check(r.json.user_id === undefined || r.json.user_id === 'alice', `(a) the reservation belongs to ${r.json.user_id}`);
  log(`(a) held: ${held.detail}; ${powText}; reservation ${r.json.status}`);

  // Let the hold countdown tick once, then take the picture for docs/.
  await sleep(1200);
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const file = path.join(ROOT, 'docs/buyer-page.png');
    await page.setViewportSize({ width: 520, height: 400 }); // fullPage then fits the card
    await page.screenshot({ path: file, fullPage: true });
    log(`(a) screenshot written to ${path.relative(ROOT, file)}`);
  }
  check(page.problems.length === 0, `(a) the page reported errors: ${page.problems.join('; ')}`);
  await context.close();
}

// (e) armed: ticked before the start, the page books by itself at the opening instant
async function scenarioArmed(browser, server) {
  const startsAtMs = Date.now() + LEAD_MS;
  const saleId = await createSale(server, {
    name: 'Armed drop', stock: 5, per_user_limit: 1, price_cents: 100, pow_difficulty: 10,
    starts_at: new Date(startsAtMs).toISOString(),
  });
  const { page, context } = await openBuyerPage(browser, server, saleId, 'armed-ann');
  await page.waitForSelector('#arm-row:not([hidden])', { timeout: 5000 });
  check(await page.isDisabled('#buy'), '(e) the Buy button is enabled before the start');
  await page.check('#arm');
  const hint = await page.textContent('#buy-hint');
  check(/Armed/.test(hint), `(e) the hint does not say the page is armed: "${hint}"`);
  const held = await waitForState(page, 'held', 15000, '(e) the armed booking');
  const reservationId = await page.getAttribute('#result', 'data-reservation-id');
  const r = await http('GET', `${server.url}/api/v1/reservations/${encodeURIComponent(reservationId)}`,
    { headers: await ownerHeaders(server, 'armed-ann') });
  check(r.status === 200, `(e) GET /api/v1/reservations/${reservationId} answered ${r.status}`);
  // No click was needed, and the booking went out at the opening, not a reaction time later.
  const sentAt = await page.evaluate(() => window.__firstBookAt || null);
  const late = sentAt === null ? null : sentAt - startsAtMs;
  check(late !== null && late >= -150 && late < 150, `(e) the armed booking went out ${late} ms after the start`);
  log(`(e) armed: booked ${late} ms after starts_at without a click; ${held.title}`);
  check(page.problems.length === 0, `(e) the page reported errors: ${page.problems.join('; ')}`);
  await context.close();
}

// (b) a sale whose only unit is taken → sold out
async function scenarioSoldOut(browser, server) {
  const saleId = await createSale(server, { name: 'Single unit', stock: 1, per_user_limit: 1 });
  const taken = await http('POST', `${server.url}/api/v1/sales/${saleId}/book`, { body: { user_id: 'early-bird', quantity: 1 } });
  check(taken.status === 202, `(b) taking the only unit answered ${taken.status}: ${taken.text.slice(0, 300)}`);
  const { page, context } = await openBuyerPage(browser, server, saleId, 'bob');
  // The tick says remaining 0, which alone disables the button; the page must say why.
  await page.waitForFunction(() => document.getElementById('sale-remaining').textContent === '0', null, { timeout: 5000 });
  check(await page.isDisabled('#buy'), '(b) the Buy button is enabled on a sold-out sale');
  const label = await page.textContent('#countdown-label');
  check(/sold out/i.test(label), `(b) the clock says "${label}" for a sold-out sale`);
  // And a booking that gets there anyway (the tick raced it) is shown as sold out.
  await page.evaluate(() => {
    document.getElementById('buy').disabled = false;
    document.getElementById('buy').click();
  });
  const r = await waitForState(page, 'sold-out', 5000, '(b) booking a sold-out sale');
  check(/sold out/i.test(r.title), `(b) sold-out title: "${r.title}"`);
  log(`(b) sold out: ${r.title} / ${r.detail}`);
  check(page.problems.length === 0, `(b) the page reported errors: ${page.problems.join('; ')}`);
  await context.close();
}

// (c) per_user_limit 1, the same buyer twice → held, then limit reached
async function scenarioLimit(browser, server) {
  const saleId = await createSale(server, { name: 'One per buyer', stock: 5, per_user_limit: 1 });
  const { page, context } = await openBuyerPage(browser, server, saleId, 'carol');
  await page.waitForSelector('#buy:not([disabled])', { timeout: 5000 });
  await page.click('#buy');
  await waitForState(page, 'held', 10000, '(c) first booking');
  await page.waitForSelector('#buy:not([disabled])', { timeout: 5000 });
  await page.click('#buy');
  const r = await waitForState(page, 'limit', 10000, '(c) second booking by the same buyer');
  check(/limit reached/i.test(r.title), `(c) limit title: "${r.title}"`);
  log(`(c) limit reached: ${r.detail} (states: ${r.states})`);
  check(page.problems.length === 0, `(c) the page reported errors: ${page.problems.join('; ')}`);
  await context.close();
}

// (d) an admission bucket of one token per second, just emptied → throttled, retried, held.
// With a proof of work: the server spends a challenge even on a 429, so the retry must carry
// a new one (solved while waiting), not the spent one (which would cost a pow-replayed trip).
async function scenarioThrottled(browser, server) {
  const saleId = await createSale(server, {
    name: 'Slow lane', stock: 5, per_user_limit: 2, admission_rate: 1, admission_burst: 1, pow_difficulty: 8,
  });
  const { page, context } = await openBuyerPage(browser, server, saleId, 'dave');
  const bookings = [];
  page.on('response', (res) => {
    if (res.request().method() === 'POST' && res.url().endsWith(`/api/v1/sales/${saleId}/book`)) {
      bookings.push(`${res.status()} ${res.request().headers()['idempotency-key']}`);
    }
  });
  await page.waitForSelector('#buy:not([disabled])', { timeout: 5000 });
  const drain = await bookWithPow(server, saleId, 'drainer');
  check(drain.status === 202, `(d) emptying the bucket answered ${drain.status}: ${drain.text.slice(0, 300)}`);
  await page.click('#buy');
  const t = await waitForState(page, 'throttled', 3000, '(d) booking right after the bucket was emptied');
  const extra = await page.textContent('#result-extra');
  check(/retrying in \d+\.\d s/.test(t.detail) && /Retry.After/.test(extra), `(d) throttled: "${t.detail}" / "${extra}"`);
  log(`(d) throttled: ${t.title} / ${t.detail} / ${extra}`);
  const r = await waitForState(page, 'held', 10000, '(d) the automatic retry');
  check(/throttled.*held/.test(r.states), `(d) states ${r.states}`);
  const keys = new Set(bookings.map((b) => b.split(' ')[1]));
  check(bookings.length === 2 && bookings[0].startsWith('429') && bookings[1].startsWith('202') && keys.size === 1,
    `(d) expected a 429 then a 202 with one Idempotency-Key, got: ${bookings.join(', ')}`);
  log(`(d) retried and held (states: ${r.states}; bookings: ${bookings.join(', ')})`);
  check(page.problems.length === 0, `(d) the page reported errors: ${page.problems.join('; ')}`);
  await context.close();
}

// ---- the waiting room (docs/WAITING_ROOM.md, "The buyer page") --------------------------------

// A buyer's own entry, read by the test with the buyer's token.
async function queueOf(server, saleId, user) {
  const r = await http('GET', `${server.url}/api/v1/sales/${saleId}/queue`, { headers: await ownerHeaders(server, user) });
  check(r.status === 200, `GET /api/v1/sales/${saleId}/queue as ${user} answered ${r.status}: ${r.text.slice(0, 300)}`);
  return r.json;
}

// A join from the test itself (the other buyers of the room), with a proof of work when asked.
async function joinByApi(server, saleId, user) {
  const auth = await ownerHeaders(server, user);
  let r = await http('POST', `${server.url}/api/v1/sales/${saleId}/queue`, { body: {}, headers: auth });
  if (r.status === 428) {
    const ch = await http('POST', `${server.url}/api/v1/sales/${saleId}/challenge`, { body: {}, headers: auth });
    check(ch.status === 201, `POST /api/v1/sales/${saleId}/challenge answered ${ch.status}: ${ch.text.slice(0, 300)}`);
    const { solution } = powSolver().solve(ch.json.challenge, ch.json.difficulty);
    r = await http('POST', `${server.url}/api/v1/sales/${saleId}/queue`, {
      body: {}, headers: { ...auth, 'X-Pow-Challenge': ch.json.challenge, 'X-Pow-Solution': solution },
    });
  }
  check(r.status === 201, `joining sale ${saleId} as ${user} answered ${r.status}: ${r.text.slice(0, 300)}`);
  return r.json;
}

async function roomOf(page) {
  return page.evaluate(() => ({
    state: document.getElementById('wr').dataset.state,
    position: document.getElementById('wr-position').textContent,
    ahead: document.getElementById('wr-ahead').textContent,
    eta: document.getElementById('wr-eta').hidden ? '' : document.getElementById('wr-eta').textContent,
    warning: document.getElementById('wr-warning').hidden ? '' : document.getElementById('wr-warning').textContent,
    odds: document.getElementById('wr-odds').hidden ? '' : document.getElementById('wr-odds').textContent,
    entry: document.getElementById('wr-entry').textContent,
    commitment: document.getElementById('wr-commitment').textContent,
    states: (window.__wrStates || []).join(' → '),
  }));
}

async function waitForRoom(page, states, timeout, what) {
  try {
    await page.waitForFunction((s) => s.includes(document.getElementById('wr').dataset.state), states, { timeout });
  } catch {
    const r = await roomOf(page);
    const res = await resultOf(page);
    throw new CheckFailed(`${what}: expected the waiting room to show ${states.join(' or ')} within ${timeout} ms; ` +
      `it shows "${r.state}": ${r.position} / ${r.ahead} (states: ${r.states}); result "${res.state}": ${res.title} / ${res.detail}`);
  }
  return roomOf(page);
}

// The page's own rendering of a time: local time of day with seconds.
const localClockOf = (page, ms) => page.evaluate((t) => new Date(t).toTimeString().slice(0, 8), ms);

async function screenshot(page, name, what) {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  const file = path.join(ROOT, `docs/${name}`);
  await page.setViewportSize({ width: 520, height: 400 }); // fullPage then fits the card
  await page.screenshot({ path: file, fullPage: true });
  await page.setViewportSize({ width: 520, height: 860 });
  log(`${what}: screenshot written to ${path.relative(ROOT, file)}`);
}

async function watchRoom(page) {
  await page.evaluate(() => {
    window.__wrStates = [];
    const el = document.getElementById('wr');
    const note = () => {
      const s = el.dataset.state;
      if (window.__wrStates[window.__wrStates.length - 1] !== s) window.__wrStates.push(s);
    };
    note();
    new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
}

// (f) lobby → join (one entry, proof of work) → shuffled line (#k of N) → admitted → the page
// books by itself with the admission token. Two pages and eight buyers from the test in one
// cohort, stock for all: every entry is admitted in rank order, 40 a minute.
async function scenarioWaitingRoom(browser, server) {
  const lobbyAtMs = Date.now() + 9000;
  const startsAtMs = lobbyAtMs + 5000;
  const saleId = await createSale(server, {
    name: 'Waiting-room sneaker drop', stock: 20, per_user_limit: 1, price_cents: 12900, pow_difficulty: 8,
    starts_at: new Date(startsAtMs).toISOString(), waiting_room: true,
    lobby_opens_at: new Date(lobbyAtMs).toISOString(), grace_ms: 1000, admit_per_minute: 40,
    entries_per_address: 0, // every buyer here shares 127.0.0.1
  });
  const view = await http('GET', `${server.url}/api/v1/sales/${saleId}`);
  const room = view.json && view.json.waiting_room;
  check(room && /^[0-9a-f]{64}$/.test(room.commitment), `(f) GET /api/v1/sales/${saleId} has no waiting room: ${view.text.slice(0, 400)}`);
  const closesAtMs = Date.parse(room.cohort_closes_at);
  check(closesAtMs === startsAtMs + 1000, `(f) cohort_closes_at ${room.cohort_closes_at} is not starts_at + 1 s`);

  const ada = await openBuyerPage(browser, server, saleId, 'wr-ada', { scale: 2 });
  const admissionHeaders = [];
  ada.page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().endsWith(`/api/v1/sales/${saleId}/book`)) admissionHeaders.push(req.headers()['x-admission-token'] || '');
  });
  await watchRoom(ada.page);
  let r = await roomOf(ada.page);
  check(r.commitment === room.commitment, `(f) the page shows commitment "${r.commitment}", the sale has ${room.commitment}`);
  if (Date.now() < lobbyAtMs - 1000) {
    const label = await ada.page.textContent('#countdown-label');
    const ms = Number(await ada.page.getAttribute('#countdown', 'data-ms'));
    check(/waiting room opens in/i.test(label) && ms > 0 && ms <= lobbyAtMs - Date.now() + 1000,
      `(f) before the lobby the clock says "${label}" ${ms} ms`);
    await ada.page.click('#buy');
    const hint = await ada.page.textContent('#buy-hint');
    check(/joins for you when the lobby opens/.test(hint), `(f) pressed before the lobby, the hint says "${hint}"`);
    log(`(f) before the lobby: "${label}" ${ms} ms; pressed Join: "${hint}"`);
  } else {
    log('(f) the page loaded after the lobby opened (a slow machine): joining now');
    await ada.page.click('#buy');
  }

  const ben = await openBuyerPage(browser, server, saleId, 'wr-ben', { scale: 2 });
  await watchRoom(ben.page);
  await sleep(Math.max(0, lobbyAtMs - Date.now() + 300));
  const crowd = [];
  for (let i = 0; i < 8; i++) crowd.push((await joinByApi(server, saleId, `wr-crowd-${i}`)).entry_id);
  await ben.page.click('#buy');

  r = await waitForRoom(ada.page, ['lobby'], 10000, '(f) the join at the lobby\'s opening');
  const adaEntry = await queueOf(server, saleId, 'wr-ada');
  check(r.entry === adaEntry.entry_id && /^[A-Za-z0-9_-]{16}$/.test(r.entry),
    `(f) the page shows entry "${r.entry}", the server has ${adaEntry.entry_id}`);
  check(adaEntry.cohort === true, `(f) wr-ada's entry is not in the cohort: ${JSON.stringify(adaEntry)}`);
  const wantOdds = `Joining any time before ${await localClockOf(ada.page, closesAtMs)} gives the same odds.`;
  check(r.odds === wantOdds, `(f) the lobby says "${r.odds}", expected "${wantOdds}"`);
  const powText = await ada.page.textContent('#pow-status');
  check(/solved/i.test(powText), `(f) the join's proof of work does not show as solved: "${powText}"`);
  // One entry per buyer: asking again (a retry, another tab) gets the same entry, no new work.
  const again = await http('POST', `${server.url}/api/v1/sales/${saleId}/queue`, { body: {}, headers: await ownerHeaders(server, 'wr-ada') });
  check(again.status === 200 && again.json.entry_id === adaEntry.entry_id, `(f) joining again answered ${again.status}: ${again.text.slice(0, 200)}`);
  await waitForRoom(ben.page, ['lobby'], 10000, '(f) the second page\'s join');
  log(`(f) lobby: entry ${r.entry}, "${r.position}", "${r.odds}"; ${powText}`);
  await screenshot(ada.page, 'buyer-waiting-room-lobby.png', '(f) lobby');

  // After the seal: a place in the shuffled line, "#k of N", then the turn.
  const pages = [{ name: 'wr-ada', ...ada }, { name: 'wr-ben', ...ben }];
  for (const p of pages) {
    p.room = await waitForRoom(p.page, ['queued', 'admitted', 'booked'], 30000, `(f) ${p.name}'s place in the line`);
    p.rank = (await queueOf(server, saleId, p.name)).rank;
    check(Number.isInteger(p.rank) && p.rank >= 1 && p.rank <= 10, `(f) ${p.name}'s rank is ${p.rank}`);
  }
  const later = pages[0].rank > pages[1].rank ? pages[0] : pages[1];
  r = await roomOf(later.page);
  if (r.state === 'queued') {
    check(r.position === `#${later.rank} of 10`, `(f) ${later.name} (rank ${later.rank}) sees "${r.position}"`);
    check(/^\d+ ahead of you$|^Nobody waiting ahead of you$/.test(r.ahead), `(f) ${later.name} sees "${r.ahead}"`);
    log(`(f) queued: ${later.name} sees "${r.position}", "${r.ahead}", "${r.eta}" (states: ${r.states})`);
    await screenshot(later.page, 'buyer-waiting-room-queued.png', '(f) queued');
  } else {
    log(`(f) ${later.name} (rank ${later.rank}) was admitted before the check could see its place: ${r.states}`);
  }
  const ariaLive = await ada.page.getAttribute('.wr-line', 'aria-live');
  check(ariaLive === 'polite', `(f) the position text is not in a polite live region (aria-live="${ariaLive}")`);

  // Each page books by itself once admitted, with the admission token; the server records it.
  for (const p of pages) {
    const held = await waitForState(p.page, 'held', 40000, `(f) ${p.name}'s own booking in its turn`);
    check(/Held for you/.test(held.title), `(f) ${p.name} held title: "${held.title}"`);
    const reservationId = await p.page.getAttribute('#result', 'data-reservation-id');
    const res = await http('GET', `${server.url}/api/v1/reservations/${encodeURIComponent(reservationId)}`,
      { headers: await ownerHeaders(server, p.name) });
    check(res.status === 200 && ['reserved', 'pending'].includes(res.json && res.json.status),
      `(f) GET /api/v1/reservations/${reservationId} answered ${res.status}: ${res.text.slice(0, 300)}`);
    const entry = await queueOf(server, saleId, p.name);
    check(entry.state === 'booked', `(f) the server has ${p.name}'s entry ${entry.state}, not booked`);
    const w = await waitForRoom(p.page, ['booked'], 5000, `(f) ${p.name}'s waiting room after the booking`);
    log(`(f) ${p.name} (rank ${p.rank}): ${held.title} ${held.detail}; entry booked (states: ${w.states})`);
  }
  check(admissionHeaders.length === 1 && admissionHeaders[0].startsWith(`at1.${saleId}.`),
    `(f) wr-ada's booking requests carried X-Admission-Token: ${JSON.stringify(admissionHeaders)}`);
  await screenshot(ada.page, 'buyer-waiting-room-booked.png', '(f) booked');
  for (const p of pages) {
    check(p.page.problems.length === 0, `(f) ${p.name}'s page reported errors: ${p.page.problems.join('; ')}`);
    await p.context.close();
  }
}

// (g) one unit, a buyer ahead: the page behind it is told it is likely to sell out before its
// turn, then "Sold out" once the unit is booked.
async function scenarioWaitingRoomSoldOut(browser, server) {
  const startsAtMs = Date.now() + 3000;
  const saleId = await createSale(server, {
    name: 'Last pair', stock: 1, per_user_limit: 1, price_cents: 9900, waiting_room: true,
    lobby_opens_at: new Date(Date.now() - 1000).toISOString(), starts_at: new Date(startsAtMs).toISOString(),
    grace_ms: 1000, admit_per_minute: 600, entries_per_address: 0,
  });
  const first = await joinByApi(server, saleId, 'wr-first');
  check(first.cohort === true, `(g) the first buyer is not in the cohort: ${JSON.stringify(first)}`);
  const { page, context } = await openBuyerPage(browser, server, saleId, 'wr-cleo');
  await watchRoom(page);
  // Joined after the cohort closed: behind it, first come, first served.
  await sleep(Math.max(0, startsAtMs + 1000 - Date.now() + 300));
  await page.click('#buy');
  let r = await waitForRoom(page, ['queued', 'sold-out'], 20000, '(g) the late buyer\'s place');
  const mine = await queueOf(server, saleId, 'wr-cleo');
  check(mine.cohort === false && mine.rank === 2, `(g) wr-cleo's entry: ${JSON.stringify(mine)}`);
  // The unit is the first buyer's once admitted: the page behind says so.
  let admitted = null;
  for (let i = 0; i < 100 && !admitted; i++) {
    const q = await queueOf(server, saleId, 'wr-first');
    if (q.state === 'admitted') admitted = q.admission.token;
    else await sleep(100);
  }
  check(admitted, '(g) the first buyer was not admitted within 10 s of the seal');
  await page.waitForSelector('#wr-warning:not([hidden])', { timeout: 10000 }).catch(() => {});
  r = await roomOf(page);
  check(/^Likely to sell out before your turn/.test(r.warning), `(g) the page behind one unit says "${r.position}" / "${r.warning}"`);
  const line = (await queueOf(server, saleId, 'wr-cleo')).line;
  check(line && line.likely_sold_out === true, `(g) the server's line for wr-cleo: ${JSON.stringify(line)}`);
  log(`(g) queued behind the last unit: "${r.position}", "${r.ahead}", "${r.warning}"`);
  const booked = await http('POST', `${server.url}/api/v1/sales/${saleId}/book`, {
    body: { quantity: 1 }, headers: { ...(await ownerHeaders(server, 'wr-first')), 'X-Admission-Token': admitted },
  });
  check(booked.status === 202, `(g) the first buyer's booking answered ${booked.status}: ${booked.text.slice(0, 300)}`);
  const sold = await waitForState(page, 'sold-out', 15000, '(g) the page behind the last unit');
  check(sold.title === 'Sold out', `(g) sold-out title: "${sold.title}"`);
  r = await waitForRoom(page, ['sold-out'], 5000, '(g) the waiting room behind the last unit');
  check(await page.isDisabled('#buy'), '(g) the button is enabled on a sold-out waiting room');
  log(`(g) sold out: ${sold.title} / ${sold.detail} (states: ${r.states})`);
  check(page.problems.length === 0, `(g) the page reported errors: ${page.problems.join('; ')}`);
  await context.close();
}

// ---- main -----------------------------------------------------------------------------------------

async function main() {
  checkPowSolver();
  check(process.env.FLASHSALE_TEST_PG_URL, 'FLASHSALE_TEST_PG_URL is not set: run through deploy/local/test, or export a ' +
    'superuser URL of a PostgreSQL test cluster (e.g. postgresql://flashsale@127.0.0.1:25432/postgres)');
  check(fs.existsSync(serverBin()), `flashsale-server not found at ${serverBin()}; build it or set FLASHSALE_SERVER_BIN`);
  const chromiumPath = process.env.FLASHSALE_CHROMIUM || '/usr/bin/chromium';
  check(fs.existsSync(chromiumPath), `${chromiumPath} not found: apt-get install chromium (FS_PACKAGES has it)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new CheckFailed('playwright-core is not installed: run npm ci in tests/web (deploy/local/test does)');
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-web-'));
  let keepDir = true;
  cleanups.push(() => {
    if (keepDir && process.exitCode) console.error(`logs kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });
  const redisUrl = await startRedis(dir);
  const pgUrl = createDatabase();
  const server = await startServer(dir, redisUrl, pgUrl);
  log(`servers up: ${server.url}`);

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());

  try {
    await scenarioCountdownAndHeld(browser, server);
    await scenarioSoldOut(browser, server);
    await scenarioLimit(browser, server);
    await scenarioThrottled(browser, server);
    await scenarioArmed(browser, server);
  } catch (e) {
    if (server.child.exitCode !== null) e.message += `\nflashsale-server exited (${server.child.exitCode}):\n${server.serverLogTail()}`;
    else if (!(e instanceof CheckFailed)) e.message += `\nserver log:\n${server.serverLogTail()}`;
    throw e;
  }
  await stopProcess(server.child, 'flashsale-server');

  // The waiting room: its own Redis, database and server, with the scheduler role.
  const wrDir = path.join(dir, 'waiting-room');
  fs.mkdirSync(wrDir);
  const wrServer = await startServer(wrDir, await startRedis(wrDir), createDatabase(), 'api,worker,scheduler');
  log(`waiting-room servers up: ${wrServer.url}`);
  try {
    await scenarioWaitingRoom(browser, wrServer);
    await scenarioWaitingRoomSoldOut(browser, wrServer);
  } catch (e) {
    if (wrServer.child.exitCode !== null) e.message += `\nflashsale-server exited (${wrServer.child.exitCode}):\n${wrServer.serverLogTail()}`;
    else if (!(e instanceof CheckFailed)) e.message += `\nserver log:\n${wrServer.serverLogTail()}`;
    throw e;
  }
  keepDir = false;
}

const watchdog = setTimeout(() => {
  fail(`did not finish within ${WATCHDOG_MS / 1000} s`);
  cleanup().finally(() => process.exit(1));
}, WATCHDOG_MS);

try {
  await main();
  log('PASS web/buyerpage: countdown, proof of work, held, sold out, limit reached, throttled, ' +
    'waiting room (lobby, #k of N, booked with the admission, sold out)');
} catch (e) {
  fail(e instanceof CheckFailed ? e.message : e.stack || String(e));
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
