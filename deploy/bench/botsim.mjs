// Bot simulation: who gets the units of a small sale, humans or bots, with and
// without the admission defences (docs/ADMISSION.md), and through the waiting room. Node 20, no npm dependencies. Normally run
// by deploy/bench/botsim, which starts the server; by hand:
//
//   node deploy/bench/botsim.mjs run --api URL --label NAME --pow-difficulty D --out FILE [...]
//   node deploy/bench/botsim.mjs report FILE...
//   node deploy/bench/botsim.mjs measure            (node's SHA-256 rate and the auto difficulty)
//
// Environment: FLASHSALE_ADMIN_TOKEN (creates the sales), BOTSIM_BUYER_SECRET (the server's
// --buyer-token-secret; buyers' HS256 tokens are minted with it here).
//
// The model, one run (every number is a flag, defaults in DEFAULTS below):
//   - A sale of --stock units (10), per_user_limit 1, pow_difficulty as the scenario says,
//     opening a few seconds after it is created (--open-after-s, or longer when the proofs of
//     work take longer to pre-solve on this machine, see "time dilation" below).
//   - --humans H humans, one account and one IP each (X-Forwarded-For 10.1.y.z, through the
//     trusted proxy 127.0.0.1). Before the opening each fetches one challenge and solves it, then
//     sends exactly ONE booking at opening + a reaction delay drawn from --human-delay
//     (uniform:150:600 ms; also lognormal:MEDIAN:SIGMA, normal:MEAN:SD, fixed:MS).
//   - --bots B bots, each with --bot-accounts accounts and --bot-ips IPs (10.200.b.i). From
//     --bot-lead-ms before the opening until --bot-duration-ms after it, each bot floods bookings
//     over --bot-concurrency connections, rotating its accounts and IPs, ignoring Retry-After.
//     A bot stops using an account once it has won a unit with it (per_user_limit 1).
//   - A share --bot-pow-share of the bots (0.5, chosen at random per seed) solve proofs of work.
//     Each has one core: it pre-solves challenges for its accounts during the --bot-pow-window-s
//     seconds before the opening (60: a challenge lives 60 s, so earlier work is useless). Its
//     solves are real, timed one by one, and it stops when their summed CPU time exceeds the
//     window, or when it holds --bot-pow-cap solutions (default: as many bookings as its IPs can
//     get past the per-IP rate limit during the flood, i.e. the most it could ever spend; more
//     would be wasted CPU for the bot and for this simulator). A solution is leased to one
//     request at a time and given back when the answer shows it was not spent (429, 403
//     sale-not-started); a PoW bot with no unspent solution left stops sending. The other bots
//     send no proof.
//   - Time dilation: this machine solves every human's and PoW bot's challenges with
//     --solver-threads workers, whereas in reality each has its own core, so the opening is set
//     after the expected solving time (measured rate) with a margin; what counts in the model is
//     each solve's own CPU time, not when the simulator got to it. Challenges are fetched just
//     before they are solved, and any used after expiry would be reported.
//
// The waiting-room model (--waiting-room 1; issue 16, docs/WAITING_ROOM.md), the same people:
//   - The sale has a waiting room: the lobby opens when the sale is created, starts_at as above,
//     --grace-ms (3000), --admit-per-minute (60000), --admission-ttl-seconds (30),
//     --entries-per-address (1). The server must run the scheduler role (its leader seals the
//     cohort at starts_at + grace_ms and admits in rank order).
//   - Every human and every bot account joins once (POST .../queue; a 429, 503 or lobby-not-open
//     is retried), with a pre-solved proof of work when --pow-difficulty > 0 (one per entry, the
//     join spends it; every bot pre-solves for all its accounts). Humans join at the opening plus
//     their reaction delay; bots, by default, exactly at the opening less --bot-lead-ms
//     (--bot-join t0, as the flood of the model above is timed), or as soon as the lobby opens
//     (--bot-join lobby). Inside the cohort either gives the same odds.
//   - Account k of a bot uses address k mod --bot-ips: all behind one address with 1 (the
//     address cap then lets one entry per bot into the cohort, the others queue FIFO behind it),
//     one address each with --bot-ips = --bot-accounts (only accounts and proofs of work bind).
//   - Each then polls GET .../queue (bots every --bot-poll-ms, humans every --human-poll-ms)
//     until admitted, and books once with X-Admission-Token (a 429, 503 or broken connection is
//     retried; anything in SPENT ends it). Everyone stops when the sale is sold out, or
//     --run-timeout-s after the cohort closed.
//   - Checks: sold = 202s = --stock; the units went exactly to ranks 1..stock (with the server's
//     --waiting-room-admit-factor 1 every admitted buyer gets a unit, so this is the shuffle
//     deciding, not speed); no human missed the cohort. The bench verifies each sale's shuffle
//     with flashsale-ctl fairness verify.
//
// Outcomes are counted per side by status and problem type. Afterwards GET /api/v1/sales/{id}
// must show exactly --stock units sold, and the 202 count must agree.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const DEFAULTS = {
  stock: 10,
  humans: 60, // 200 humans' proofs of work cannot be pre-solved within a challenge's 60 s on 2 cores
  bots: 6,
  'bot-accounts': 10,
  'bot-ips': 1,
  'bot-concurrency': 4,
  'bot-lead-ms': 100,
  'bot-duration-ms': 2000,
  'bot-pow-share': 0.5,
  'bot-pow-window-s': 60,
  'bot-pow-cap': 'auto',
  'human-delay': 'uniform:150:600',
  'open-after-s': 3,
  'solver-threads': 2,
  'pow-difficulty': 0,
  'rate-limit-ip': 0, // what the server was started with: for the bots' auto cap and the report
  'rate-limit-ip-burst': 0,
  'rate-limit-user': 0,
  'rate-limit-user-burst': 0,
  // The waiting-room model (--waiting-room 1; docs/WAITING_ROOM.md), see "The waiting-room model"
  // above.
  'waiting-room': 0,
  'grace-ms': 3000,
  'admit-per-minute': 60000,
  'admission-ttl-seconds': 30,
  'entries-per-address': 1,
  'bot-join': 't0',
  'bot-poll-ms': 100,
  'human-poll-ms': 500,
  'run-timeout-s': 30,
  'client-connections': 64, // per pool: one for polls, one for joins and bookings
  seed: 1,
  label: 'run',
  api: '',
  out: '',
};

// ---- helpers -------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (!(k in DEFAULTS)) throw new Error(`unknown option ${a}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    o[k] = typeof DEFAULTS[k] === 'number' ? Number(v) : v;
    if (typeof DEFAULTS[k] === 'number' && !Number.isFinite(o[k])) throw new Error(`${a}: not a number`);
  }
  return o;
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function delaySampler(spec, rnd) {
  const [kind, x, y] = spec.split(':');
  const a = Number(x), b = Number(y);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  switch (kind) {
    case 'uniform': return () => a + (b - a) * rnd();
    case 'normal': return () => Math.max(0, a + b * gauss());
    case 'lognormal': return () => a * Math.exp(b * gauss());
    case 'fixed': return () => a;
    default: throw new Error(`--human-delay: unknown distribution ${spec}`);
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
// The server's default issuer and audience (--buyer-token-issuer, --buyer-token-audience).
function mintToken(secret, sub, ttlS = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(
    JSON.stringify({ sub, iss: 'flashsale', aud: 'flashsale-api', iat: now, exp: now + ttlS }))}`;
  return `${body}.${b64url(crypto.createHmac('sha256', secret).update(body).digest())}`;
}

function leadingZeroBits(d) {
  let bits = 0;
  for (const byte of d) {
    if (byte === 0) { bits += 8; continue; }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

function solve(challenge, difficulty) {
  const prefix = challenge + ':';
  const t0 = process.hrtime.bigint();
  for (let s = 0; ; s++) {
    if (leadingZeroBits(crypto.hash('sha256', prefix + s, 'buffer')) >= difficulty)
      return { solution: String(s), ms: Number(process.hrtime.bigint() - t0) / 1e6, hashes: s + 1 };
  }
}

function hashRate(seconds = 0.5) {
  const prefix = 'v1.1.' + 'x'.repeat(100) + ':';
  const t0 = process.hrtime.bigint();
  let n = 0, z = 0;
  for (;;) {
    for (let i = 0; i < 10000; i++, n++) z += crypto.hash('sha256', prefix + n, 'buffer')[0] === 0;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt >= seconds) return n / dt;
  }
}

// The smallest difficulty whose expected solve (2^d hashes) takes at least half a second on one
// core at the measured rate: a human's single pre-solve then takes 0.5-1 s on average.
const autoDifficulty = (rate) => Math.ceil(Math.log2(0.5 * rate));

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const pct = (v, q) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// One booking's answer as a short outcome name.
async function classify(res) {
  const text = await res.text();
  if (res.status === 202) return '202';
  let type = '', scope = '';
  try { const j = JSON.parse(text); type = (j.type || '').replace('/problems/', ''); scope = j.scope || ''; } catch {}
  if (type === 'rate-limited') return `429 rate-limited ${scope}`;
  return `${res.status} ${type || '?'}`;
}

// Outcomes after which the presented proof of work was spent by book.lua (or is worthless), and
// after which sending the same booking again is pointless: the admission problems of a sale with
// a waiting room are final for that booking too (a spent, missing, forged or expired admission
// does not come back by retrying).
const ADMISSION_REFUSED = new Set(['409 admission-spent', '428 admission-required', '403 admission-invalid',
  '410 admission-expired']);
const SPENT = new Set(['202', '409 sold-out', '409 per-user-limit', '409 pow-replayed', '409 insufficient-stock',
  '403 pow-invalid', '403 sale-closed', ...ADMISSION_REFUSED]);

async function post(api, path, { token, ip, body = {}, headers = {} }) {
  return fetch(api + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, 'X-Forwarded-For': ip, ...headers },
    body: JSON.stringify(body),
  });
}

// ---- workers: solver pool and the bots' flood ----------------------------------------------

if (!isMainThread) {
  if (workerData.role === 'solver') {
    parentPort.on('message', (m) => {
      if (m.rate) return parentPort.postMessage({ rate: hashRate(m.rate) });
      parentPort.postMessage(solve(m.challenge, m.difficulty));
    });
  } else if (workerData.role === 'bots') {
    runBots(workerData).then((r) => parentPort.postMessage(r));
  }
}

class SolverPool {
  constructor(n) {
    this.idle = [];
    this.waiting = [];
    this.workers = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL(import.meta.url), { workerData: { role: 'solver' } });
      this.workers.push(w);
      this.idle.push(w);
    }
  }
  async acquire() {
    if (this.idle.length) return this.idle.pop();
    return new Promise((r) => this.waiting.push(r));
  }
  release(w) {
    const next = this.waiting.shift();
    if (next) next(w); else this.idle.push(w);
  }
  call(w, msg) {
    return new Promise((r) => { w.once('message', r); w.postMessage(msg); });
  }
  close() { for (const w of this.workers) w.terminate(); }
}

// Hashes per second of the slowest solver, measured on every solver at once, as they will
// run, on a machine that may be shared.
async function solverRate(pool) {
  const ws = await Promise.all(pool.workers.map(() => pool.acquire()));
  const rates = await Promise.all(ws.map((w) => pool.call(w, { rate: 0.5 })));
  ws.forEach((w) => pool.release(w));
  return Math.min(...rates.map((r) => r.rate));
}

async function runBots({ api, bots, openMs, lead, duration, concurrency }) {
  const outcomes = {};
  let sent = 0, won = 0;
  const wonBy = [];
  const endMs = openMs + duration;
  await sleep(openMs - lead - Date.now());
  await Promise.all(bots.flatMap((bot) => {
    const accounts = bot.accounts.map((a) => ({ ...a, won: false, free: [...a.solutions] }));
    let next = 0, ipNext = 0;
    const pick = () => {
      for (let i = 0; i < accounts.length; i++) {
        const a = accounts[(next + i) % accounts.length];
        if (a.won || a.refused || (bot.pow && a.free.length === 0)) continue;
        next = (next + i + 1) % accounts.length;
        return a;
      }
      return null;
    };
    return Array.from({ length: concurrency }, async () => {
      while (Date.now() < endMs) {
        const a = pick();
        if (!a) {
          // Every account has won or was refused for good, or (PoW bot) every solution is spent or
          // in flight.
          if (accounts.every((x) => x.won || x.refused || (bot.pow && x.free.length === 0 && !x.leased))) return;
          await sleep(2);
          continue;
        }
        const proof = bot.pow ? a.free.shift() : null;
        if (proof) a.leased = (a.leased || 0) + 1;
        const ip = bot.ips[ipNext++ % bot.ips.length];
        let o;
        try {
          const res = await post(api, `/api/v1/sales/${bot.sale}/book`, {
            token: a.token, ip, body: { quantity: 1 },
            headers: proof ? { 'X-Pow-Challenge': proof.challenge, 'X-Pow-Solution': proof.solution } : {},
          });
          o = await classify(res);
        } catch (e) {
          o = 'error ' + (e.cause?.code || e.message);
        }
        sent++;
        outcomes[o] = (outcomes[o] || 0) + 1;
        if (proof) {
          a.leased--;
          if (!SPENT.has(o)) a.free.push(proof);
        }
        if (o === '202') { a.won = true; won++; wonBy.push(bot.id); }
        // A sale with a waiting room refuses every booking without a valid admission: that
        // account is done.
        if (ADMISSION_REFUSED.has(o)) a.refused = true;
      }
    });
  }));
  return { sent, won, outcomes, wonBy };
}

// ---- one run -------------------------------------------------------------------------------

async function run(o) {
  const adminToken = process.env.FLASHSALE_ADMIN_TOKEN;
  const secret = process.env.BOTSIM_BUYER_SECRET;
  if (!o.api || !adminToken || !secret) throw new Error('--api, FLASHSALE_ADMIN_TOKEN and BOTSIM_BUYER_SECRET are required');
  const rnd = mulberry32(o.seed * 2654435761);
  const delay = delaySampler(o['human-delay'], rnd);
  const d = o['pow-difficulty'];
  const tag = `s${o.seed}${o.label.replace(/[^A-Za-z0-9]/g, '').slice(0, 8)}${Date.now() % 100000}`;

  // Who is who.
  const humans = Array.from({ length: o.humans }, (_, i) => ({
    user: `h-${tag}-${i}`, ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, delay: delay(),
  }));
  const powBots = Math.round(o.bots * o['bot-pow-share']);
  const order = Array.from({ length: o.bots }, (_, i) => i).sort(() => rnd() - 0.5);
  const bots = Array.from({ length: o.bots }, (_, b) => ({
    id: b, pow: order.indexOf(b) < powBots,
    ips: Array.from({ length: o['bot-ips'] }, (_, i) => `10.200.${b}.${i + 1}`),
    accounts: Array.from({ length: o['bot-accounts'] }, (_, k) => ({ user: `b-${tag}-${b}-${k}`, solutions: [] })),
  }));
  for (const h of humans) h.token = mintToken(secret, h.user);
  for (const b of bots) for (const a of b.accounts) a.token = mintToken(secret, a.user);

  // The most bookings a bot's IPs can get past the per-IP limit during its flood: the burst plus
  // the rate over the flood's length, per IP (without a per-IP limit, one per account per
  // second of flood, a generous stand-in).
  const ipRate = o['rate-limit-ip'], ipBurst = o['rate-limit-ip-burst'];
  const floodS = (o['bot-lead-ms'] + o['bot-duration-ms']) / 1000;
  const cap = o['bot-pow-cap'] !== 'auto' ? Number(o['bot-pow-cap'])
    : ipRate > 0 ? o['bot-ips'] * (ipBurst + Math.ceil(ipRate * floodS))
      : o['bot-accounts'] * Math.ceil(floodS);

  // Proof-of-work preparation, and the opening after it.
  const pool = d > 0 ? new SolverPool(o['solver-threads']) : null;
  const rate = pool ? await solverRate(pool) : 0;
  const expectedSolveMs = d > 0 ? (2 ** d / rate) * 1000 : 0;
  const jobs = d > 0 ? o.humans + bots.filter((b) => b.pow).length * cap : 0;
  const prepEstimateS = (jobs * expectedSolveMs) / 1000 / o['solver-threads'];
  // The first challenge is fetched at once and must still be valid (60 s) when used, so the
  // opening is never more than 55 s away; a run whose pre-solving overruns it is flagged.
  const openAfterS = Math.min(55, Math.max(o['open-after-s'], prepEstimateS * 1.5 + 3));
  if (prepEstimateS * 1.5 + 3 > 55) console.error(`warning: pre-solving is expected to take ${prepEstimateS.toFixed(0)} s; challenges may expire (60 s)`);
  const created = Date.now();
  const openMs = Math.ceil((created + openAfterS * 1000) / 1000) * 1000;
  const iso = (ms) => new Date(ms).toISOString();
  const createRes = await fetch(`${o.api}/api/v1/admin/sales`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ name: `botsim ${o.label} seed ${o.seed}`, stock: o.stock, price_cents: 100, per_user_limit: 1,
      pow_difficulty: d, starts_at: iso(openMs), ends_at: iso(openMs + 3600000) }),
  });
  if (createRes.status !== 201) throw new Error(`create sale: ${createRes.status} ${await createRes.text()}`);
  const sale = (await createRes.json()).id;
  const path = `/api/v1/sales/${sale}`;

  const challengeFor = async (token, ip) => {
    const r = await post(o.api, `${path}/challenge`, { token, ip });
    if (r.status !== 201) throw new Error(`challenge: ${r.status} ${await r.text()}`);
    return r.json();
  };
  const prepStart = Date.now();
  const humanSolveMs = [];
  const botSolveMs = [];
  let botSolutions = 0, botBudgetStops = 0;
  if (pool) {
    const solveOne = async (token, ip) => {
      const w = await pool.acquire();
      try {
        const c = await challengeFor(token, ip); // fetched just before it is solved
        const r = await pool.call(w, { challenge: c.challenge, difficulty: c.difficulty });
        return { challenge: c.challenge, solution: r.solution, ms: r.ms, expiresMs: Date.parse(c.expires_at) };
      } finally { pool.release(w); }
    };
    const humanJobs = humans.map(async (h) => {
      h.proof = await solveOne(h.token, h.ip);
      humanSolveMs.push(h.proof.ms);
    });
    // A PoW bot works on one core, one challenge after another, until its CPU window is used up.
    const botJobs = bots.filter((b) => b.pow).map(async (b) => {
      let cpuMs = 0;
      for (let j = 0; j < cap; j++) {
        const a = b.accounts[j % b.accounts.length];
        const p = await solveOne(a.token, b.ips[j % b.ips.length]);
        botSolveMs.push(p.ms);
        cpuMs += p.ms;
        if (cpuMs > o['bot-pow-window-s'] * 1000) { botBudgetStops++; break; }
        a.solutions.push(p);
        botSolutions++;
      }
    });
    await Promise.all([...humanJobs, ...botJobs]);
    pool.close();
  }
  const prepMs = Date.now() - prepStart;
  const slackMs = openMs - Date.now();

  // The traffic: bots in a thread of their own, so their flood does not delay the humans' timers.
  const botThread = new Worker(new URL(import.meta.url), {
    workerData: {
      role: 'bots', api: o.api, openMs, lead: o['bot-lead-ms'], duration: o['bot-duration-ms'],
      concurrency: o['bot-concurrency'],
      bots: bots.map((b) => ({ id: b.id, pow: b.pow, ips: b.ips, sale,
        accounts: b.accounts.map((a) => ({ token: a.token, solutions: a.solutions.map(({ challenge, solution }) => ({ challenge, solution })) })) })),
    },
  });
  const botResult = new Promise((r) => botThread.once('message', r));
  const humanOutcomes = {};
  const lateness = [];
  let humansWon = 0, expiredUsed = 0;
  await Promise.all(humans.map(async (h) => {
    await sleep(openMs + h.delay - Date.now());
    const at = Date.now();
    lateness.push(at - (openMs + h.delay));
    if (h.proof && h.proof.expiresMs <= at) expiredUsed++;
    let out;
    try {
      const res = await post(o.api, `${path}/book`, {
        token: h.token, ip: h.ip, body: { quantity: 1 },
        headers: h.proof ? { 'X-Pow-Challenge': h.proof.challenge, 'X-Pow-Solution': h.proof.solution } : {},
      });
      out = await classify(res);
    } catch (e) {
      out = 'error ' + (e.cause?.code || e.message);
    }
    humanOutcomes[out] = (humanOutcomes[out] || 0) + 1;
    if (out === '202') humansWon++;
  }));
  const br = await botResult;
  await botThread.terminate();

  const view = await (await fetch(o.api + path)).json();
  const sold = o.stock - view.remaining;
  const result = {
    label: o.label, seed: o.seed, sale, difficulty: d, stock: o.stock, humans: o.humans, bots: o.bots, powBots,
    botAccounts: o.bots * o['bot-accounts'],
    limits: { ip: ipRate, ipBurst, user: o['rate-limit-user'], userBurst: o['rate-limit-user-burst'] },
    humanDelay: o['human-delay'], botLeadMs: o['bot-lead-ms'], botDurationMs: o['bot-duration-ms'],
    botConcurrency: o['bot-concurrency'], botPowWindowS: o['bot-pow-window-s'], botPowCap: cap,
    hashRate: rate, expectedSolveMs, humanSolveMedianMs: median(humanSolveMs), humanSolveP90Ms: pct(humanSolveMs, 0.9),
    botSolutions, botBudgetStops, botSolveMedianMs: median(botSolveMs),
    prepMs, openAfterS: (openMs - created) / 1000, slackMs, expiredUsed,
    humanLatenessP50Ms: pct(lateness, 0.5), humanLatenessMaxMs: Math.max(...lateness),
    won: { bots: br.won, humans: humansWon }, sent: { bots: br.sent, humans: o.humans },
    outcomes: { bots: br.outcomes, humans: humanOutcomes }, winningBots: [...new Set(br.wonBy)].length,
    sold, remaining: view.remaining, accepted: br.won + humansWon,
  };
  // A run whose pre-solving overran the opening did not follow the model (humans sent late).
  result.late = slackMs < o['bot-lead-ms'] + 50;
  result.ok = sold === o.stock && result.accepted === sold && !result.late && expiredUsed === 0;
  if (o.out) fs.writeFileSync(o.out, JSON.stringify(result) + '\n');
  const share = result.accepted ? (100 * br.won / result.accepted).toFixed(0) : '-';
  console.log(`${o.label} seed ${o.seed} sale ${sale}: bots ${br.won}, humans ${humansWon} (bots' share ${share}%), `
    + `sold ${sold}/${o.stock}${result.late ? '  <-- LATE: pre-solving overran the opening' : result.ok ? '' : '  <-- CHECK FAILED'}; requests bots ${br.sent}, humans ${o.humans}`
    + (d ? `; d=${d}, human solve p50 ${result.humanSolveMedianMs.toFixed(0)} ms, bot solutions ${botSolutions}, prep ${(prepMs / 1000).toFixed(1)} s, slack ${slackMs} ms` : ''));
  return result;
}

// ---- one run with the waiting room ----------------------------------------------------------

// A request over a pool of keep-alive connections, answered like fetch's Response (status,
// text(), json()). The waiting-room model has every participant in flight at once (1,300 in the
// CI test); with fetch, a connection per request in flight, up to a third of the humans missed
// the cohort by seconds (most likely connects beyond the server's listen backlog, retried by TCP
// after 1 s and 3 s), for reasons that have nothing to do with the server's fairness.
function pooledRequest(agent, method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, text: async () => text, json: async () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// The waiting-room model (--waiting-room 1). Same people as run(); everyone goes through the room:
// join (POST .../queue, with a solved proof of work when the sale asks for one), poll
// (GET .../queue) until admitted, then book once with the admission token.
async function runWaitingRoom(o) {
  const adminToken = process.env.FLASHSALE_ADMIN_TOKEN;
  const secret = process.env.BOTSIM_BUYER_SECRET;
  if (!o.api || !adminToken || !secret) throw new Error('--api, FLASHSALE_ADMIN_TOKEN and BOTSIM_BUYER_SECRET are required');
  if (!['t0', 'lobby'].includes(o['bot-join'])) throw new Error('--bot-join: t0 or lobby');
  const rnd = mulberry32(o.seed * 2654435761);
  const delay = delaySampler(o['human-delay'], rnd);
  const d = o['pow-difficulty'];
  const tag = `s${o.seed}${o.label.replace(/[^A-Za-z0-9]/g, '').slice(0, 8)}${Date.now() % 100000}`;

  // Who is who: the humans as in run(); each bot's accounts spread over its --bot-ips addresses
  // (account k on address k mod bot-ips: one address for all with 1, one each with bot-accounts).
  const people = [];
  for (let i = 0; i < o.humans; i++)
    people.push({ side: 'humans', user: `h-${tag}-${i}`, ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, delay: delay() });
  for (let b = 0; b < o.bots; b++)
    for (let k = 0; k < o['bot-accounts']; k++)
      people.push({ side: 'bots', bot: b, user: `b-${tag}-${b}-${k}`,
        ip: `10.${200 + Math.floor(b / 250)}.${b % 250}.${(k % o['bot-ips']) + 1}` });
  for (const p of people) p.token = mintToken(secret, p.user);

  const pool = d > 0 ? new SolverPool(o['solver-threads']) : null;
  const rate = pool ? await solverRate(pool) : 0;
  const expectedSolveMs = d > 0 ? (2 ** d / rate) * 1000 : 0;
  const prepEstimateS = d > 0 ? (people.length * expectedSolveMs) / 1000 / o['solver-threads'] : 0;
  const openAfterS = Math.min(55, Math.max(o['open-after-s'], prepEstimateS * 1.5 + 3));
  if (prepEstimateS * 1.5 + 3 > 55) console.error(`warning: pre-solving is expected to take ${prepEstimateS.toFixed(0)} s; challenges may expire (60 s)`);
  const created = Date.now();
  const openMs = Math.ceil((created + openAfterS * 1000) / 1000) * 1000;
  const grace = o['grace-ms'];
  const iso = (ms) => new Date(ms).toISOString();
  // lobby_opens_at is left out: its default is 30 min before starts_at or now, whichever is
  // later, so the lobby is open from the moment the sale exists.
  const createRes = await fetch(`${o.api}/api/v1/admin/sales`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ name: `botsim ${o.label} seed ${o.seed}`, stock: o.stock, price_cents: 100, per_user_limit: 1,
      pow_difficulty: d, starts_at: iso(openMs), ends_at: iso(openMs + 3600000), waiting_room: true, grace_ms: grace,
      admit_per_minute: o['admit-per-minute'], admission_ttl_seconds: o['admission-ttl-seconds'],
      entries_per_address: o['entries-per-address'] }),
  });
  if (createRes.status !== 201) throw new Error(`create sale: ${createRes.status} ${await createRes.text()}`);
  const createdSale = await createRes.json();
  const sale = createdSale.id;
  const commitment = createdSale.waiting_room?.commitment || '';
  const path = `/api/v1/sales/${sale}`;

  // Proofs of work: one per entry (the join spends it), pre-solved by humans and bots alike.
  const prepStart = Date.now();
  const solveMs = { humans: [], bots: [] };
  if (pool) {
    await Promise.all(people.map(async (p) => {
      const w = await pool.acquire();
      try {
        const r0 = await post(o.api, `${path}/challenge`, { token: p.token, ip: p.ip });
        if (r0.status !== 201) throw new Error(`challenge: ${r0.status} ${await r0.text()}`);
        const c = await r0.json();
        const r = await pool.call(w, { challenge: c.challenge, difficulty: c.difficulty });
        p.proof = { challenge: c.challenge, solution: r.solution, expiresMs: Date.parse(c.expires_at) };
        solveMs[p.side].push(r.ms);
      } finally { pool.release(w); }
    }));
    pool.close();
  }
  const prepMs = Date.now() - prepStart;
  const slackMs = openMs - Date.now();

  const count = (m, k) => { m[k] = (m[k] || 0) + 1; };
  const joins = { humans: {}, bots: {} }, books = { humans: {}, bots: {} };
  const requests = { humans: 0, bots: 0 };
  const lateness = [];
  let expiredUsed = 0;
  const deadline = openMs + grace + o['run-timeout-s'] * 1000;
  let done = false;
  // Joins and bookings have a pool of their own, so that they never wait behind the polls (a
  // real buyer does not queue behind other buyers' polls in their own browser).
  const agent = new http.Agent({ keepAlive: true, maxSockets: o['client-connections'] });
  const sendAgent = new http.Agent({ keepAlive: true, maxSockets: o['client-connections'] });
  const headersOf = (p, extra = {}) => ({ Authorization: `Bearer ${p.token}`, 'X-Forwarded-For': p.ip, ...extra });
  const get = (url, p) => pooledRequest(agent, 'GET', url, headersOf(p));
  const postAs = (url, p, body, extra = {}) =>
    pooledRequest(sendAgent, 'POST', url, headersOf(p, { 'Content-Type': 'application/json', ...extra }), JSON.stringify(body));
  const joinLatency = { humans: [], bots: [] };

  // Join until an entry is had: a 429, 503 or a lobby not open yet is retried (one entry per
  // buyer, so a retry is safe); any other refusal ends this person's run.
  const join = async (p) => {
    while (Date.now() < deadline) {
      if (p.proof && p.proof.expiresMs <= Date.now()) expiredUsed++;
      let o2, j = null;
      try {
        requests[p.side]++;
        const res = await postAs(`${o.api}${path}/queue`, p, {},
          p.proof ? { 'X-Pow-Challenge': p.proof.challenge, 'X-Pow-Solution': p.proof.solution } : {});
        if (res.status === 201 || res.status === 200) { j = await res.json(); o2 = String(res.status); } else o2 = await classify(res);
      } catch (e) {
        o2 = 'error ' + (e.cause?.code || e.message);
      }
      count(joins[p.side], j ? (j.cohort ? 'cohort' : `fifo${j.reason ? ' ' + j.reason : ''}`) : o2);
      if (j) { p.entry = j.entry_id; p.cohort = j.cohort; p.reason = j.reason; joinLatency[p.side].push(Date.now() - p.joinedAt); return true; }
      if (!(o2.startsWith('429') || o2.startsWith('503') || o2.startsWith('error') || o2 === '403 lobby-not-open')) return false;
      await sleep(20);
    }
    return false;
  };
  // Poll until admitted, then book once with the admission token (retrying only what may pass
  // on a retry: 429, 503, a broken connection).
  const follow = async (p, pollMs) => {
    while (!done && Date.now() < deadline) {
      let j = null;
      try {
        requests[p.side]++;
        const res = await get(`${o.api}${path}/queue`, p);
        if (res.status === 200) j = await res.json(); else await res.text();
      } catch { /* polled again below */ }
      if (j) {
        if (j.rank != null) p.rank = j.rank;
        if (j.state === 'admitted' && j.admission?.token) {
          for (;;) {
            let out;
            try {
              requests[p.side]++;
              const res = await postAs(`${o.api}${path}/book`, p, { quantity: 1 }, { 'X-Admission-Token': j.admission.token });
              out = await classify(res);
            } catch (e) {
              out = 'error ' + (e.cause?.code || e.message);
            }
            count(books[p.side], out);
            if (out === '202') { p.won = true; return; }
            if (SPENT.has(out) || Date.now() >= deadline) return;
            await sleep(20);
          }
        }
        if (['booked', 'expired', 'closed'].includes(j.state)) return;
      }
      await sleep(pollMs);
    }
  };

  // Bots join at the opening (less --bot-lead-ms) or as soon as the lobby is open; humans at the
  // opening plus their reaction delay. Inside the cohort either gives the same odds.
  const botJoinAt = o['bot-join'] === 'lobby' ? Date.now() : openMs - o['bot-lead-ms'];
  const everyone = people.map(async (p) => {
    const at = p.side === 'bots' ? botJoinAt : openMs + p.delay;
    await sleep(at - Date.now());
    if (p.side === 'humans') lateness.push(Date.now() - at);
    p.joinedAt = Date.now();
    if (await join(p)) await follow(p, p.side === 'bots' ? o['bot-poll-ms'] : o['human-poll-ms']);
  });
  // Sold out: every poller stops (the sale's remaining, polled as a buyer page would).
  let view = null;
  const watch = (async () => {
    await sleep(openMs + grace - Date.now());
    while (!done && Date.now() < deadline) {
      try {
        view = await (await fetch(o.api + path)).json();
        if (view.remaining === 0) done = true;
      } catch { /* try again */ }
      if (!done) await sleep(100);
    }
  })();
  await Promise.all(everyone);
  done = true;
  await watch;
  agent.destroy();
  sendAgent.destroy();
  view = await (await fetch(o.api + path)).json();

  const sold = o.stock - view.remaining;
  const won = { humans: people.filter((p) => p.side === 'humans' && p.won).length, bots: people.filter((p) => p.side === 'bots' && p.won).length };
  const winnerRanks = people.filter((p) => p.won).map((p) => p.rank).sort((x, y) => x - y);
  const inCohort = (side) => people.filter((p) => p.side === side && p.cohort).length;
  const cohortSize = inCohort('humans') + inCohort('bots');
  // With --waiting-room-admit-factor 1 and everyone booking, the units go exactly to ranks 1..stock.
  const rankOrder = winnerRanks.length === sold && winnerRanks.every((r, i) => r === i + 1);
  const result = {
    label: o.label, seed: o.seed, sale, commitment, waitingRoom: true, difficulty: d, stock: o.stock, humans: o.humans,
    bots: o.bots, powBots: d > 0 ? o.bots : 0, botAccounts: o.bots * o['bot-accounts'], botIps: o['bot-ips'],
    limits: { ip: o['rate-limit-ip'], ipBurst: o['rate-limit-ip-burst'], user: o['rate-limit-user'], userBurst: o['rate-limit-user-burst'] },
    humanDelay: o['human-delay'], botLeadMs: o['bot-lead-ms'], botDurationMs: 0, botConcurrency: 0, botJoin: o['bot-join'],
    botPowWindowS: 0, botPowCap: d > 0 ? 1 : 0, graceMs: grace, admitPerMinute: o['admit-per-minute'],
    admissionTtlSeconds: o['admission-ttl-seconds'], entriesPerAddress: o['entries-per-address'],
    hashRate: rate, expectedSolveMs, humanSolveMedianMs: median(solveMs.humans), humanSolveP90Ms: pct(solveMs.humans, 0.9),
    botSolutions: solveMs.bots.length, botBudgetStops: 0, botSolveMedianMs: median(solveMs.bots),
    prepMs, openAfterS: (openMs - created) / 1000, slackMs, expiredUsed,
    humanLatenessP50Ms: pct(lateness, 0.5), humanLatenessMaxMs: Math.max(...lateness),
    joinMs: { humansP50: pct(joinLatency.humans, 0.5), humansMax: Math.max(...joinLatency.humans),
      botsP50: pct(joinLatency.bots, 0.5), botsMax: Math.max(...joinLatency.bots) },
    won, sent: { bots: Object.values(books.bots).reduce((a, b) => a + b, 0), humans: Object.values(books.humans).reduce((a, b) => a + b, 0) },
    requests, outcomes: books, joins,
    cohort: { size: cohortSize, humans: inCohort('humans'), bots: inCohort('bots'),
      botFifo: people.filter((p) => p.side === 'bots' && p.entry && !p.cohort).length,
      humanFifo: people.filter((p) => p.side === 'humans' && p.entry && !p.cohort).length },
    winningBots: new Set(people.filter((p) => p.side === 'bots' && p.won).map((p) => p.bot)).size,
    winnerRankMax: winnerRanks.length ? winnerRanks[winnerRanks.length - 1] : 0, rankOrder,
    sold, remaining: view.remaining, accepted: won.bots + won.humans,
  };
  // A run whose pre-solving overran the opening, or whose humans joined after the cohort closed,
  // did not follow the model.
  result.late = slackMs < o['bot-lead-ms'] + 50 || result.cohort.humanFifo > 0;
  result.ok = sold === o.stock && result.accepted === sold && !result.late && expiredUsed === 0 && rankOrder;
  if (o.out) fs.writeFileSync(o.out, JSON.stringify(result) + '\n');
  const share = result.accepted ? (100 * won.bots / result.accepted).toFixed(0) : '-';
  console.log(`${o.label} seed ${o.seed} sale ${sale}: bots ${won.bots}, humans ${won.humans} (bots' share ${share}%), `
    + `sold ${sold}/${o.stock}${result.late ? '  <-- LATE: pre-solving overran the opening, or humans missed the cohort' : result.ok ? '' : '  <-- CHECK FAILED'}; `
    + `cohort ${cohortSize} (bots ${result.cohort.bots}, humans ${result.cohort.humans}), bots in the FIFO ${result.cohort.botFifo}; `
    + `units to ranks 1..${result.winnerRankMax}${rankOrder ? '' : ' NOT IN RANK ORDER'}; requests bots ${requests.bots}, humans ${requests.humans}`
    + (d ? `; d=${d}, prep ${(prepMs / 1000).toFixed(1)} s, slack ${slackMs} ms` : ''));
  return result;
}

// ---- report ---------------------------------------------------------------------------------

const OUTCOME_ORDER = ['202', '409 sold-out', '409 per-user-limit', '429 rate-limited ip', '429 rate-limited user',
  '429 throttled', '428 pow-required', '403 pow-invalid', '409 pow-replayed', '403 sale-not-started'];

function report(files) {
  const runs = files.flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  const labels = [...new Set(runs.map((r) => r.label))];
  const keys = [...new Set([...OUTCOME_ORDER, ...runs.flatMap((r) => [...Object.keys(r.outcomes.bots), ...Object.keys(r.outcomes.humans)])])]
    .filter((k) => runs.some((r) => r.outcomes.bots[k] || r.outcomes.humans[k]));
  const share = (r) => (r.accepted ? (100 * r.won.bots) / r.accepted : NaN);
  const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const p = runs[0];
  console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model || '?'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  console.log(`model: stock ${p.stock}, per_user_limit 1; ${p.humans} humans (1 account, 1 IP, one booking at opening + ${p.humanDelay} ms); `
    + `${p.bots} bots x ${p.botAccounts / p.bots} accounts, ${p.powBots} of them solving proofs of work `
    + `(window ${p.botPowWindowS} s of one core each), flood from ${p.botLeadMs} ms before the opening for ${p.botDurationMs} ms, `
    + `${p.botConcurrency} connections per bot`);
  console.log(`participants: bots are ${f1((100 * p.bots) / (p.bots + p.humans))}% of the people and `
    + `${f1((100 * p.botAccounts) / (p.botAccounts + p.humans))}% of the accounts`);
  console.log('\nper run:');
  console.log('| scenario | seed | sale | d | bots won | humans won | bots\' share | bot req | human req | sold | ' + keys.map((k) => `bots ${k}`).join(' | ') + ' | ' + keys.map((k) => `humans ${k}`).join(' | ') + ' |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|' + keys.map(() => '---:|').join('').repeat(2));
  for (const r of runs)
    console.log(`| ${r.label} | ${r.seed} | ${r.sale} | ${r.difficulty} | ${r.won.bots} | ${r.won.humans} | ${f0(share(r))}% | ${r.sent.bots} | ${r.sent.humans} | ${r.sold}/${r.stock}${r.late ? ' LATE' : r.ok ? '' : ' FAIL'} | `
      + keys.map((k) => r.outcomes.bots[k] || 0).join(' | ') + ' | ' + keys.map((k) => r.outcomes.humans[k] || 0).join(' | ') + ' |');
  console.log('\nmedians over the runs of each scenario (LATE runs left out):');
  console.log('| | ' + labels.join(' | ') + ' |');
  console.log('|---|' + labels.map(() => '---:|').join(''));
  // Runs whose pre-solving overran the opening did not follow the model: listed, not counted.
  const by = (l) => runs.filter((r) => r.label === l && !r.late);
  const row = (name, fn, fmt = f0) => console.log(`| ${name} | ` + labels.map((l) => fmt(median(by(l).map(fn)))).join(' | ') + ' |');
  console.log(`| runs | ${labels.map((l) => by(l).length).join(' | ')} |`);
  const first = (l) => runs.find((r) => r.label === l);
  console.log(`| pow_difficulty | ${labels.map((l) => first(l).difficulty).join(' | ')} |`);
  console.log(`| rate limits ip/user (per s, burst) | ${labels.map((l) => { const m = first(l).limits; return m.ip ? `${m.ip}/${m.ipBurst}, ${m.user}/${m.userBurst}` : 'off'; }).join(' | ')} |`);
  row('units won by bots', (r) => r.won.bots);
  row('units won by humans', (r) => r.won.humans);
  row('bots\' share of units, %', share);
  row('requests sent by bots', (r) => r.sent.bots);
  row('requests sent by humans', (r) => r.sent.humans);
  for (const k of keys) row(`bots: ${k}`, (r) => r.outcomes.bots[k] || 0);
  for (const k of keys) row(`humans: ${k}`, (r) => r.outcomes.humans[k] || 0);
  row('bot solutions pre-solved', (r) => r.botSolutions);
  row('human solve, median ms', (r) => r.humanSolveMedianMs);
  row('human send lateness, max ms', (r) => r.humanLatenessMaxMs);
  row('sold (GET /sales/{id})', (r) => r.sold);
  if (runs.some((r) => r.waitingRoom)) {
    const wr = (fn) => (r) => (r.waitingRoom ? fn(r) : NaN);
    row('waiting room: cohort entries', wr((r) => r.cohort.size));
    row('waiting room: bots\' entries in the cohort', wr((r) => r.cohort.bots));
    row('waiting room: bots\' entries in the FIFO', wr((r) => r.cohort.botFifo));
    row('waiting room: humans in the cohort', wr((r) => r.cohort.humans));
    row('waiting room: highest rank that got a unit', wr((r) => r.winnerRankMax));
    row('waiting room: humans\' join answered after, max ms', wr((r) => r.joinMs.humansMax));
    row('waiting room: bots\' join answered after, max ms', wr((r) => r.joinMs.botsMax));
    const joinKeys = [...new Set(runs.filter((r) => r.waitingRoom).flatMap((r) => [...Object.keys(r.joins.bots), ...Object.keys(r.joins.humans)]))];
    for (const side of ['bots', 'humans'])
      for (const k of joinKeys) row(`waiting room: ${side}' joins answered ${k}`, wr((r) => r.joins[side][k] || 0));
    row('waiting room: requests by bots (join, poll, book)', wr((r) => r.requests.bots));
    row('waiting room: requests by humans (join, poll, book)', wr((r) => r.requests.humans));
  }
  const ranges = labels.map((l) => { const s = by(l).map(share); return `${l} ${f0(Math.min(...s))}–${f0(Math.max(...s))}%`; });
  console.log(`\nbots' share range: ${ranges.join(', ')}`);
  const allOk = runs.every((r) => r.ok);
  const expired = runs.reduce((n, r) => n + r.expiredUsed, 0);
  console.log(`every run sold exactly its stock, the 202s agree, and pre-solving finished before the opening: ${allOk ? 'yes' : 'NO'}${expired ? `; ${expired} human challenges used after expiry` : ''}`);
  const wrOk = runs.filter((r) => r.waitingRoom);
  if (wrOk.length)
    console.log(`waiting room: every unit went to ranks 1..stock in rank order: ${wrOk.every((r) => r.rankOrder) ? 'yes' : 'NO'}`);
  const peopleShare = (100 * p.bots) / (p.bots + p.humans);
  const fcfs = labels.filter((l) => !first(l).waitingRoom);
  const med = fcfs.map((l) => [l, median(by(l).map(share))]);
  if (med.length)
    console.log(`\nverdict: bots' median share of units ${med.map(([l, s]) => `${l} ${f0(s)}%`).join(', ')} `
      + `(bots are ${f1(peopleShare)}% of the people): `
      + (med.length < 2 ? ''
        : med[1][1] < med[0][1]
          ? (med[1][1] <= peopleShare ? 'the defences bring the bots down to at most their share of the people.'
            : 'the defences reduce the bots\' share, but not below their share of the people.')
          : 'the defences do not reduce the bots\' share.'));
  shareStatistics(labels.map((l) => [l, by(l)]));
}

// The Wilson score interval (95%) of k successes in n trials.
function wilson(k, n, z = 1.96) {
  if (!n) return [NaN, NaN];
  const ph = k / n, den = 1 + (z * z) / n;
  const c = (ph + (z * z) / (2 * n)) / den;
  const h = (z * Math.sqrt((ph * (1 - ph)) / n + (z * z) / (4 * n * n))) / den;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

// The bots' share of units over the runs of each scenario, with two 95% intervals:
//   - Wilson, over the pooled units (every unit a trial that a bot won or not). Within a run the
//     units are drawn without replacement from a finite cohort, which varies less than
//     independent trials, so this interval is, if anything, too wide;
//   - bootstrap over runs (10,000 resamples of the runs with replacement, the pooled share of
//     each, 2.5th and 97.5th percentiles; a fixed seed, so the report is reproducible), which
//     assumes nothing about how units within a run depend on each other, but needs 10 or more
//     runs to mean much.
// and the ratio to the bots' share of the people, against the issue's aim (<= 1.2).
function shareStatistics(groups) {
  const f1 = (x) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
  console.log('\nbots\' share of units over the runs (pooled units; 95% intervals: Wilson over units, bootstrap over runs):');
  console.log('| scenario | runs | units | bots\' units | bots\' share, % | Wilson 95%, % | bootstrap 95%, % | median per run, % | bots\' share of people, % | ratio to people (Wilson 95%) | aim <= 1.2x |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  const rnd = mulberry32(20261205);
  for (const [l, rs] of groups) {
    if (!rs.length) continue;
    const units = rs.reduce((n, r) => n + r.accepted, 0), bots = rs.reduce((n, r) => n + r.won.bots, 0);
    const people = rs[0].bots / (rs[0].bots + rs[0].humans);
    const [lo, hi] = wilson(bots, units);
    const boots = [];
    for (let b = 0; b < 10000; b++) {
      let u = 0, k = 0;
      for (let i = 0; i < rs.length; i++) { const r = rs[Math.floor(rnd() * rs.length)]; u += r.accepted; k += r.won.bots; }
      boots.push(u ? k / u : NaN);
    }
    const sh = units ? bots / units : NaN;
    const aim = !Number.isFinite(sh) ? '-' : hi <= 1.2 * people ? 'met (the whole interval)' : sh <= 1.2 * people ? 'met (the estimate; the interval reaches past it)' : 'NOT met';
    console.log(`| ${l} | ${rs.length} | ${units} | ${bots} | ${f1(sh)} | ${f1(lo)}–${f1(hi)} | ${f1(pct(boots, 0.025))}–${f1(pct(boots, 0.975))} | `
      + `${f1(median(rs.map((r) => (r.accepted ? r.won.bots / r.accepted : NaN))))} | ${f1(people)} | ${f2(sh / people)} (${f2(lo / people)}–${f2(hi / people)}) | ${aim} |`);
  }
}

// ---- main -----------------------------------------------------------------------------------

if (isMainThread) {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    if (cmd === 'run') { const o = parseArgs(rest); await (o['waiting-room'] ? runWaitingRoom(o) : run(o)); }
    else if (cmd === 'report') report(rest);
    else if (cmd === 'measure') {
      const r = hashRate(1);
      console.log(JSON.stringify({ hashRate: Math.round(r), autoDifficulty: autoDifficulty(r), expectedSolveMs: Math.round((2 ** autoDifficulty(r) / r) * 1000) }));
    } else {
      console.error('usage: botsim.mjs run|report|measure ... (see the header of this file)');
      process.exit(2);
    }
  } catch (e) {
    console.error(`botsim: ${e.message}`);
    process.exit(1);
  }
}
