// Bot simulation: who gets the units of a small sale, humans or bots, with and
// without the admission defences (docs/ADMISSION.md). Node 20, no npm dependencies. Normally run
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
// Outcomes are counted per side by status and problem type. Afterwards GET /api/v1/sales/{id}
// must show exactly --stock units sold, and the 202 count must agree.

import crypto from 'node:crypto';
import fs from 'node:fs';
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

// Outcomes after which the presented proof of work was spent by book.lua (or is worthless).
const SPENT = new Set(['202', '409 sold-out', '409 per-user-limit', '409 pow-replayed', '409 insufficient-stock',
  '403 pow-invalid', '403 sale-closed']);

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
        if (a.won || (bot.pow && a.free.length === 0)) continue;
        next = (next + i + 1) % accounts.length;
        return a;
      }
      return null;
    };
    return Array.from({ length: concurrency }, async () => {
      while (Date.now() < endMs) {
        const a = pick();
        if (!a) {
          // Every account has won, or (PoW bot) every solution is spent or in flight.
          if (accounts.every((x) => x.won || (bot.pow && x.free.length === 0 && !x.leased))) return;
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
  let rate = 0;
  if (pool) {
    // Measured on every solver at once, as they will run, on a machine that may be shared.
    const ws = await Promise.all(pool.workers.map(() => pool.acquire()));
    const rates = await Promise.all(ws.map((w) => pool.call(w, { rate: 0.5 })));
    ws.forEach((w) => pool.release(w));
    rate = Math.min(...rates.map((r) => r.rate));
  }
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
  console.log(`| pow_difficulty | ${labels.map((l) => by(l)[0].difficulty).join(' | ')} |`);
  console.log(`| rate limits ip/user (per s, burst) | ${labels.map((l) => { const m = by(l)[0].limits; return m.ip ? `${m.ip}/${m.ipBurst}, ${m.user}/${m.userBurst}` : 'off'; }).join(' | ')} |`);
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
  const ranges = labels.map((l) => { const s = by(l).map(share); return `${l} ${f0(Math.min(...s))}–${f0(Math.max(...s))}%`; });
  console.log(`\nbots' share range: ${ranges.join(', ')}`);
  const allOk = runs.every((r) => r.ok);
  const expired = runs.reduce((n, r) => n + r.expiredUsed, 0);
  console.log(`every run sold exactly its stock, the 202s agree, and pre-solving finished before the opening: ${allOk ? 'yes' : 'NO'}${expired ? `; ${expired} human challenges used after expiry` : ''}`);
  const peopleShare = (100 * p.bots) / (p.bots + p.humans);
  const med = labels.map((l) => [l, median(by(l).map(share))]);
  console.log(`\nverdict: bots' median share of units ${med.map(([l, s]) => `${l} ${f0(s)}%`).join(', ')} `
    + `(bots are ${f1(peopleShare)}% of the people): `
    + (med.length >= 2 && med[1][1] < med[0][1]
      ? (med[1][1] <= peopleShare ? 'the defences bring the bots down to at most their share of the people.'
        : 'the defences reduce the bots\' share, but not below their share of the people.')
      : 'the defences do not reduce the bots\' share.'));
}

// ---- main -----------------------------------------------------------------------------------

if (isMainThread) {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    if (cmd === 'run') await run(parseArgs(rest));
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
