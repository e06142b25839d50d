// The buyer page: /buy/{saleId}. Plain JavaScript, no build step; the contract it speaks is
// docs/API.md (sale, booking, the /live WebSocket, the waiting room's queue) and
// docs/ADMISSION.md (tokens, proof of work). A sale with a waiting room (docs/WAITING_ROOM.md,
// "The buyer page") goes lobby → join → queued (#k of N) → admitted → the page books by itself.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'flashsale.buyerToken';
  const MAX_THROTTLE_RETRIES = 10;
  const PREFETCH_POW_MS = 5000; // solve the proof of work this long before the start

  const saleId = (location.pathname.match(/\/buy\/(\d+)\/?$/) || [])[1];

  // ---- clock ------------------------------------------------------------------------------
  // A monotonic local clock in epoch milliseconds (Date.now() may jump); the server's clock is
  // it plus an offset estimated NTP-style from ping/pong: offset = S - (T0 + T1) / 2, keeping
  // the sample with the smallest round trip among the recent ones.
  const localNow = () => performance.timeOrigin + performance.now();
  const clock = { samples: [], offset: null, rtt: null };

  function addClockSample(offset, rtt) {
    clock.samples.push({ offset, rtt });
    if (clock.samples.length > 12) clock.samples.shift();
    const best = clock.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    clock.offset = best.offset;
    clock.rtt = best.rtt;
  }
  const serverNow = () => localNow() + (clock.offset ?? 0);

  // ---- state --------------------------------------------------------------------------------
  const sale = {
    loaded: false, name: '', items: [], remaining: null, limit: null, powDifficulty: 0,
    startsAtMs: null, endsAtMs: null, phase: null,
    room: null, // the waiting room's public settings, or null: {lobbyOpensAtMs, closesAtMs, commitment, ...}
  };
  // The buyer's place in the waiting room.
  const wr = {
    entry: null, // the last answer of GET/POST /queue
    entryAt: 0, // localNow() when it arrived
    live: null, // the last live tick's "queue", with `at` = localNow()
    wantJoin: false, // pressed Join (before the lobby opened, it joins at the opening)
    joining: false,
    checked: false, // asked the server once whether this buyer already has an entry
    pollTimer: null,
    pollDueAt: 0,
    polling: false,
    errors: 0, // consecutive failed polls: the backoff
    bookKey: null, // one Idempotency-Key for the admitted booking, kept across retries
    bookedHere: false, // this page's own admitted booking was accepted
    bookFailed: false, // the automatic booking failed: the button offers it again
    autoBooked: null, // the admission token the page booked with by itself (once per admission)
    outcome: null, // the final state shown in the result panel
  };
  let identity = null; // {token, sub, expMs}
  let busy = false;
  let held = null; // {reservationId, expiresAtMs}
  let pow = null; // the current challenge: {promise, challenge, difficulty, expiresAtMs, solution, used}
  let powPrefetched = false; // the early challenge is fetched once per sign-in
  // Armed: the page books by itself at the opening instant (server clock), so a buyer is not
  // slower than a script by a human's reaction time.
  let armed = false;
  let armTimer = null;
  let worker = null;
  let workerBusy = false;
  let devTokensUnavailable = false;

  // ---- small helpers ----------------------------------------------------------------------
  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function formatDuration(ms, tenths) {
    ms = Math.max(0, ms);
    const days = Math.floor(ms / 86400000);
    const h = Math.floor(ms / 3600000) % 24;
    const m = Math.floor(ms / 60000) % 60;
    const s = Math.floor(ms / 1000) % 60;
    const base = `${pad(h)}:${pad(m)}:${pad(s)}`;
    if (days > 0) return `${days}d ${base}`;
    return tenths ? `${base}.${Math.floor(ms / 100) % 10}` : base;
  }

  function formatClockTime(epochMs) {
    const d = new Date(epochMs);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  const formatMoney = (cents) => (cents / 100).toFixed(2);

  function problemSlug(body) {
    const type = body && typeof body.type === 'string' ? body.type : '';
    const i = type.lastIndexOf('/problems/');
    return i >= 0 ? type.slice(i + '/problems/'.length) : '';
  }

  function newIdempotencyKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  async function api(method, path, body, headers = {}) {
    const init = { method, headers: { Accept: 'application/json', ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, body: json };
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- result panel -----------------------------------------------------------------------
  let resultTicker = null; // re-renders the detail of a state that counts down

  function showResult(state, title, detail, extra) {
    if (resultTicker) clearInterval(resultTicker);
    resultTicker = null;
    const el = $('result');
    el.dataset.state = state;
    $('result-title').textContent = title;
    $('result-extra').textContent = extra || '';
    $('result-extra').hidden = !extra;
    if (typeof detail === 'function') {
      const update = () => {
        const text = detail();
        if ($('result-detail').textContent !== text) $('result-detail').textContent = text;
      };
      update();
      resultTicker = setInterval(update, 200);
    } else {
      $('result-detail').textContent = detail || '';
    }
  }

  // ---- sale -------------------------------------------------------------------------------
  async function loadSale() {
    $('sale-id').textContent = saleId ? `#${saleId}` : '';
    if (!saleId) {
      $('sale-name').textContent = 'No sale in this address';
      showResult('error', 'Unknown sale', 'Open this page as /buy/<sale id>.');
      return false;
    }
    let r;
    try {
      r = await api('GET', `/api/v1/sales/${saleId}`);
    } catch (e) {
      $('sale-name').textContent = 'Cannot reach the shop';
      showResult('error', 'Network error', String(e.message || e));
      return false;
    }
    if (r.status === 404) {
      $('sale-name').textContent = 'Sale not found';
      showResult('error', 'Sale not found', `There is no sale ${saleId}.`);
      return false;
    }
    if (r.status !== 200 || !r.body) {
      $('sale-name').textContent = 'Sale unavailable';
      showResult('error', 'Could not load the sale', (r.body && (r.body.detail || r.body.title)) || `HTTP ${r.status}`);
      return false;
    }
    const s = r.body;
    sale.loaded = true;
    sale.name = s.name || `Sale ${saleId}`;
    sale.items = Array.isArray(s.items) ? s.items : [];
    sale.remaining = typeof s.remaining === 'number' ? s.remaining : null;
    sale.limit = s.per_user_limit ?? null;
    sale.powDifficulty = Number(s.pow_difficulty) || 0;
    sale.startsAtMs = Date.parse(s.starts_at);
    sale.endsAtMs = Date.parse(s.ends_at);
    const room = s.waiting_room;
    sale.room = room && typeof room === 'object' ? {
      lobbyOpensAtMs: Date.parse(room.lobby_opens_at),
      closesAtMs: Date.parse(room.cohort_closes_at),
      graceMs: Number(room.grace_ms) || 0,
      admitPerMinute: Number(room.admit_per_minute) || null,
      commitment: typeof room.commitment === 'string' ? room.commitment : '',
    } : null;
    if (!sale.phase) sale.phase = s.state === 'open' ? 'open' : s.state === 'scheduled' ? 'warm' : s.state;
    if (clock.offset === null && s.server_time) {
      // A first guess (half the request time off at most) until the WebSocket answers pings.
      addClockSample(Date.parse(s.server_time) - localNow(), 1e9);
    }
    document.title = `${sale.name} – flash sale`;
    $('sale-name').textContent = sale.name;
    const item = sale.items[0];
    $('sale-price').textContent = item ? formatMoney(item.price_cents) : '–';
    $('sale-limit').textContent = sale.limit ? `${sale.limit} per buyer` : '–';
    return true;
  }

  // ---- the /live WebSocket ----------------------------------------------------------------
  let ws = null;
  let pingTimer = null;
  let reconnectDelay = 500;

  function sendPing() {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'ping', client_time_ms: localNow() }));
    }
  }

  // A few pings in quick succession; the one with the shortest round trip wins.
  function pingBurst() {
    for (let i = 0; i < 5; i++) setTimeout(sendPing, i * 120);
  }

  function connectLive() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${scheme}//${location.host}/api/v1/sales/${saleId}/live`);
    ws.onopen = () => {
      reconnectDelay = 500;
      pingBurst();
      clearInterval(pingTimer);
      pingTimer = setInterval(sendPing, 5000);
    };
    ws.onmessage = (event) => {
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      if (m.type === 'pong' && typeof m.server_time_ms === 'number') {
        const now = localNow();
        addClockSample(m.server_time_ms - (m.client_time_ms + now) / 2, now - m.client_time_ms);
      } else if (m.type === 'tick') {
        if (!clock.samples.some((x) => x.rtt < 1e9)) {
          addClockSample(m.server_time_ms - localNow(), 1e9 - 1);
        }
        sale.phase = m.phase;
        if (typeof m.starts_at_ms === 'number') sale.startsAtMs = m.starts_at_ms;
        if (typeof m.ends_at_ms === 'number') sale.endsAtMs = m.ends_at_ms;
        if (typeof m.remaining === 'number') sale.remaining = m.remaining;
        if (m.queue && typeof m.queue === 'object') onQueueTick(m.queue);
      } else if (m.type === 'error' && m.code === 'not-found') {
        sale.phase = 'closed';
      }
    };
    ws.onclose = (event) => {
      clearInterval(pingTimer);
      if (event.code === 4404) return; // the sale is gone
      setTimeout(connectLive, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 10000);
    };
  }

  // ---- the rendering loop -------------------------------------------------------------------
  // What the page shows and allows, from the server clock and the last tick.
  function currentPhase(now) {
    const p = sale.phase;
    if (p === 'closed' || p === 'stopped' || p === 'paused') return p;
    if (sale.endsAtMs && now >= sale.endsAtMs) return 'closed';
    if (sale.remaining === 0) return 'sold-out';
    if (sale.startsAtMs && now >= sale.startsAtMs) return 'open';
    return 'before';
  }

  const PHASE_TEXT = {
    before: 'opens soon', open: 'open', closed: 'closed', stopped: 'stopped',
    paused: 'paused', 'sold-out': 'sold out',
  };

  function render() {
    if (!sale.loaded) return;
    const now = serverNow();
    const phase = currentPhase(now);
    const countdown = $('countdown');
    let label;
    let text;
    const roomClock = sale.room ? waitingRoomClock(now, phase) : null;
    if (roomClock) {
      ({ label, text } = roomClock);
      countdown.dataset.ms = String(Math.max(0, Math.round(roomClock.ms)));
    } else if (phase === 'before') {
      label = 'Starts in';
      text = formatDuration(sale.startsAtMs - now, true);
      countdown.dataset.ms = String(Math.max(0, Math.round(sale.startsAtMs - now)));
    } else if (phase === 'open') {
      label = 'Open now – closes in';
      text = formatDuration(sale.endsAtMs - now, false);
      countdown.dataset.ms = '0';
    } else {
      label = phase === 'paused' ? 'Paused by the shop' : phase === 'sold-out' ? 'Sold out' : 'The sale has ended';
      text = '--:--:--';
      countdown.dataset.ms = '0';
    }
    if ($('countdown-label').textContent !== label) $('countdown-label').textContent = label;
    if (countdown.textContent !== text) countdown.textContent = text;

    const phaseEl = $('phase');
    phaseEl.dataset.phase = phase === 'before' ? (sale.phase === 'scheduled' ? 'scheduled' : 'warm') : phase;
    const phaseText = roomClock && roomClock.phase ? roomClock.phase : PHASE_TEXT[phase];
    phaseEl.textContent = ws && ws.readyState === WebSocket.OPEN ? phaseText : `${phaseText} · reconnecting`;
    const sync = $('clock-sync');
    if (clock.offset !== null) {
      // The estimate, for whoever debugs the page: server minus Date.now(), and its round trip.
      sync.dataset.offsetMs = String(Math.round(now - Date.now()));
      sync.dataset.rttMs = String(Math.round(clock.rtt));
    }
    sync.textContent = clock.rtt !== null && clock.rtt < 1e8
      ? `server clock ${formatClockTime(now)} (±${Math.max(1, Math.round(clock.rtt / 2))} ms)`
      : 'clock: syncing…';

    $('sale-remaining').textContent = sale.remaining === null ? '–' : String(sale.remaining);
    if (sale.room) {
      renderWaitingRoom(now, phase);
      return;
    }

    const button = $('buy');
    const canBuy = phase === 'open' && identity !== null && !busy;
    const buttonText = held ? 'Buy another' : 'Buy now';
    if (button.textContent !== buttonText) button.textContent = buttonText;
    if (button.disabled === canBuy) button.disabled = !canBuy;
    let hint;
    if (busy) hint = 'Working on it…';
    else if (phase === 'before') {
      hint = !identity ? 'Enter your user id to take part.'
        : armed ? `Armed: this page books at ${formatClockTime(sale.startsAtMs)} (server clock).`
          : 'The button unlocks when the sale opens.';
    }
    else if (phase === 'open' && !identity) hint = 'Enter your user id to buy.';
    else if (phase === 'open') {
      const last = $('result').dataset.state;
      hint = last === 'limit' ? 'You hold as many units as one buyer may.'
        : held ? 'You can buy another unit up to the limit.' : 'Go!';
    }
    else hint = 'This sale is not taking orders.';
    if ($('buy-hint').textContent !== hint) $('buy-hint').textContent = hint;

    // Solve the proof of work just before the start so the first click goes straight out.
    const startsIn = sale.startsAtMs - now;
    const armRow = $('arm-row');
    const canArm = phase === 'before' && identity !== null && !held;
    if (armRow.hidden === canArm) armRow.hidden = !canArm;
    armed = armed && (phase === 'before' || phase === 'open') && identity !== null;
    if ($('arm').checked !== armed) $('arm').checked = armed;
    if (armed && phase === 'before' && !armTimer && startsIn < 1000) {
      // A timer of its own for the last second, aimed at the start by the server clock.
      armTimer = setTimeout(() => {
        armTimer = null;
        render();
      }, Math.max(0, startsIn));
    }
    if (armed && phase === 'open' && !busy) {
      armed = false;
      buy();
    }
    // Unlock at the start itself, not at the next 100 ms tick.
    if (phase === 'before' && startsIn < 100) setTimeout(render, startsIn + 1);
    if (identity && sale.powDifficulty > 0 && !pow && !powPrefetched && startsIn > 0 &&
        startsIn <= PREFETCH_POW_MS) {
      powPrefetched = true;
      preparePow().catch(() => {});
    }
  }

  // ---- identity -----------------------------------------------------------------------------
  function decodeJwt(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
      return JSON.parse(json);
    } catch {
      return null;
    }
  }

  function storage(op, value) {
    try {
      if (op === 'get') return localStorage.getItem(TOKEN_KEY);
      if (op === 'set') localStorage.setItem(TOKEN_KEY, value);
      if (op === 'remove') localStorage.removeItem(TOKEN_KEY);
    } catch {
      // storage disabled: the token lives only as long as the page
    }
    return null;
  }

  function useToken(token) {
    const claims = decodeJwt(token);
    if (!claims || typeof claims.sub !== 'string' || (claims.exp && claims.exp * 1000 <= Date.now())) {
      return false;
    }
    identity = { token, sub: claims.sub, expMs: claims.exp ? claims.exp * 1000 : null };
    storage('set', token);
    showIdentity();
    if (sale.loaded && sale.room) checkQueue();
    return true;
  }

  function showIdentity(error) {
    $('signed-in').hidden = identity === null;
    $('dev-login').hidden = identity !== null || devTokensUnavailable;
    if (identity) $('user-name').textContent = identity.sub;
    $('identity-error').hidden = !error;
    $('identity-error').textContent = error || '';
  }

  function loadIdentity() {
    const params = new URLSearchParams(location.search);
    const fromUrl = params.get('token');
    if (fromUrl) {
      // Keep the token out of the address bar (and out of bookmarks and shared links).
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
      if (useToken(fromUrl)) return;
      storage('remove');
      showIdentity('The token in the link is invalid or expired.');
      return;
    }
    const stored = storage('get');
    if (stored && useToken(stored)) return;
    storage('remove');
    showIdentity();
  }

  function signOut(message) {
    identity = null;
    resetWaitingRoom();
    storage('remove');
    forgetPow();
    powPrefetched = false;
    showIdentity(message);
  }

  async function devLogin(event) {
    event.preventDefault();
    const input = $('user-id');
    if (!input.reportValidity()) return;
    $('dev-login-submit').disabled = true;
    try {
      const r = await api('POST', '/api/v1/dev/tokens', { user_id: input.value.trim(), ttl_seconds: 3600 });
      if (r.status === 201 && r.body && r.body.token && useToken(r.body.token)) return;
      if (r.status === 404) {
        // Dev mode is off (as in production): tokens come from the shop's login service.
        devTokensUnavailable = true;
        showIdentity('This shop needs a buyer token: sign in on the shop and follow its link to this page ' +
          '(or add ?token=<your token> to the address).');
        return;
      }
      showIdentity((r.body && (r.body.detail || r.body.title)) || `Could not sign in (HTTP ${r.status}).`);
    } catch (e) {
      showIdentity(`Could not sign in: ${e.message || e}`);
    } finally {
      $('dev-login-submit').disabled = false;
    }
  }

  function authHeaders() {
    return { Authorization: `Bearer ${identity.token}` };
  }

  // ---- proof of work ------------------------------------------------------------------------
  function forgetPow() {
    pow = null;
    if (worker && workerBusy) {
      worker.terminate();
      worker = null;
      workerBusy = false;
    }
  }

  function showPowProgress(text, fraction) {
    $('pow').hidden = false;
    const bar = $('pow-progress');
    if (fraction === null) bar.removeAttribute('value');
    else bar.value = fraction;
    $('pow-status').textContent = text;
  }

  function solveInWorker(challenge, difficulty) {
    if (worker && workerBusy) {
      worker.terminate(); // a newer challenge replaces the one being solved
      worker = null;
    }
    if (!worker) worker = new Worker('/static/pow-worker.js');
    workerBusy = true;
    const id = Math.random();
    const expected = 2 ** difficulty;
    return new Promise((resolve, reject) => {
      worker.onmessage = (event) => {
        const m = event.data;
        if (m.id !== id) return;
        if (m.type === 'progress') {
          showPowProgress(`Solving: ${m.hashes.toLocaleString()} hashes · ` +
            `${Math.round(m.rate / 1000).toLocaleString()}k hashes/s · ${difficulty} bits`, Math.min(0.95, m.hashes / expected));
        } else if (m.type === 'solved') {
          workerBusy = false;
          showPowProgress(`Solved: ${m.hashes.toLocaleString()} hashes in ${(m.ms / 1000).toFixed(2)} s · ` +
            `${Math.round(m.rate / 1000).toLocaleString()}k hashes/s · ${difficulty} bits`, 1);
          resolve(m.solution);
        }
      };
      worker.onerror = (e) => {
        workerBusy = false;
        reject(new Error(e.message || 'the proof-of-work worker failed'));
      };
      worker.postMessage({ id, challenge, difficulty });
    });
  }

  class ProblemError extends Error {
    constructor(r) {
      super((r.body && (r.body.detail || r.body.title)) || `HTTP ${r.status}`);
      this.response = r;
    }
  }

  // Fetches a challenge and solves it; the promise is shared by whoever needs it meanwhile.
  function preparePow() {
    const p = { used: false };
    pow = p;
    showPowProgress('Fetching a challenge…', null);
    p.promise = (async () => {
      const r = await api('POST', `/api/v1/sales/${saleId}/challenge`, {}, authHeaders());
      if (r.status !== 201 || !r.body || !r.body.challenge) throw new ProblemError(r);
      p.challenge = r.body.challenge;
      p.difficulty = r.body.difficulty;
      p.expiresAtMs = Date.parse(r.body.expires_at);
      p.solution = await solveInWorker(p.challenge, p.difficulty);
      return p;
    })();
    p.promise.catch(() => {
      if (pow === p) pow = null;
    });
    return p.promise;
  }

  // A solved, unused challenge with a few seconds left, or a new one.
  function getPow(fresh) {
    const stale = pow && (pow.used || (pow.expiresAtMs && pow.expiresAtMs - serverNow() < 3000));
    if (fresh || !pow || stale) return preparePow();
    return pow.promise;
  }

  // ---- booking ------------------------------------------------------------------------------
  async function buy() {
    if (busy || !identity) return;
    busy = true;
    render();
    // One key per attempt: every retry below (throttled, proof of work) repeats it, so a
    // booking that was accepted but whose answer got lost cannot book twice.
    const attempt = { key: newIdempotencyKey(), throttled: 0, powRetries: 0 };
    try {
      await book(attempt);
    } catch (e) {
      if (e instanceof ProblemError) {
        showProblem(e.response);
      } else {
        showResult('error', 'Network error', `${e.message || e}. Try again.`);
      }
    } finally {
      busy = false;
      render();
    }
  }

  async function book(attempt) {
    // An admitted buyer spent their proof of work at the join: the admission token stands for it.
    let needPow = sale.powDifficulty > 0 && !attempt.admission;
    let freshPow = false;
    for (;;) {
      const headers = { ...authHeaders(), 'Idempotency-Key': attempt.key };
      if (attempt.admission) headers['X-Admission-Token'] = attempt.admission;
      let used = null;
      if (needPow) {
        if (!pow || !pow.solution || freshPow) showResult('working', 'Getting ready…', 'Solving the proof of work in the background.');
        used = await getPow(freshPow);
        freshPow = false;
        headers['X-Pow-Challenge'] = used.challenge;
        headers['X-Pow-Solution'] = used.solution;
      }
      showResult('working', 'Booking…', '');
      const body = { quantity: 1 };
      if (sale.items.length > 1) body.item_id = sale.items[0].id;
      const r = await api('POST', `/api/v1/sales/${saleId}/book`, body, headers);
      const slug = problemSlug(r.body);

      if (used) used.used = true; // the server spends a challenge on any answer, 429 included
      if (r.status === 429) {
        // Throttled: wait as told, then repeat the same attempt (same key), with a new
        // challenge solved while waiting.
        attempt.throttled += 1;
        attempt.powRetries = 0;
        const waitMs = retryAfterMs(r);
        if (attempt.throttled > MAX_THROTTLE_RETRIES) {
          showResult('throttled', 'Still too busy', `Gave up after ${MAX_THROTTLE_RETRIES} retries; press Buy to try again.`);
          return;
        }
        if (needPow) preparePow().catch(() => {}); // a failure surfaces again from getPow()
        const until = localNow() + waitMs;
        showResult('throttled', 'Busy – retrying automatically',
          () => `Too many buyers at once: retrying in ${(Math.max(0, until - localNow()) / 1000).toFixed(1)} s.`,
          `The shop asked to wait ${(waitMs / 1000).toFixed(1)} s (Retry\u2011After, ${slug || 'throttled'}); ` +
          `retry ${attempt.throttled} of ${MAX_THROTTLE_RETRIES}, same attempt.`);
        await sleep(waitMs);
        continue;
      }
      if (slug.startsWith('pow-') || (r.status === 428 && !slug.startsWith('admission-'))) {
        if (attempt.powRetries >= 1) return showProblem(r);
        attempt.powRetries += 1;
        needPow = true;
        freshPow = true;
        continue;
      }
      if (r.status === 202) {
        if (attempt.admission) wr.bookedHere = true;
        return showHeld(r.body);
      }
      return showProblem(r);
    }
  }

  function retryAfterMs(r) {
    const ms = r.body && Number(r.body.retry_after_ms);
    if (ms > 0) return Math.min(ms, 60000);
    const seconds = Number(r.headers.get('Retry-After'));
    return seconds > 0 ? Math.min(seconds * 1000, 60000) : 1000;
  }

  function showHeld(b) {
    const expiresAtMs = Date.parse(b.expires_at);
    held = { reservationId: b.reservation_id, expiresAtMs };
    const amount = typeof b.amount_cents === 'number' ? ` · ${formatMoney(b.amount_cents)}` : '';
    showResult('held', 'Held for you', () => {
      const left = expiresAtMs - serverNow();
      if (left <= 0) {
        queueMicrotask(() => showResult('expired', 'Your hold has expired',
          `Reservation ${b.reservation_id} was not paid in time.`));
        return 'Expired.';
      }
      return `Held until ${formatClockTime(expiresAtMs)} · ${formatDuration(left, false).replace(/^00:/, '')} left to pay`;
    }, `${b.quantity || 1} unit${amount} · reservation ${b.reservation_id}`);
    const el = $('result');
    el.dataset.reservationId = b.reservation_id;
    el.dataset.expiresAt = b.expires_at;
  }

  function showProblem(r) {
    const b = r.body || {};
    const slug = problemSlug(b);
    const detail = b.detail || b.title || `HTTP ${r.status}`;
    switch (slug) {
      case 'sold-out':
        sale.remaining = 0;
        return showResult('sold-out', 'Sold out', 'Every unit has been taken. Holds that expire come back, so it may be worth a later look.');
      case 'insufficient-stock':
        return showResult('sold-out', 'Sold out', `Only ${b.remaining ?? 'a few'} left, fewer than asked.`);
      case 'per-user-limit':
        return showResult('limit', 'Limit reached', typeof b.limit === 'number'
          ? `You already hold ${b.held ?? b.limit} ${(b.held ?? b.limit) === 1 ? 'unit' : 'units'}; ` +
            `the limit is ${b.limit} per buyer.`
          : 'You already hold as many units as one buyer may.');
      case 'sale-not-started':
        pingBurst(); // our clock was ahead of the server's: measure again
        return showResult('not-started', 'Not started yet',
          `The sale opens at ${formatClockTime(Date.parse(b.starts_at) || sale.startsAtMs)} (server clock).`);
      case 'sale-closed':
        return showResult('closed', 'The sale has ended', detail);
      case 'sale-paused':
        return showResult('closed', 'The sale is paused', `${detail} Try again when it resumes.`);
      case 'admission-required':
        return showResult('error', 'Join the waiting room first',
          'This sale lets buyers in from its waiting room, in the order of the shuffled line.');
      case 'admission-expired':
        return showTurnPassed();
      case 'admission-spent':
        return showBooked();
      case 'lobby-not-open':
        return showResult('not-started', 'The waiting room is not open yet',
          `It opens at ${formatClockTime(Date.parse(b.lobby_opens_at) || sale.room.lobbyOpensAtMs)}.`);
      case 'queue-full':
        return showResult('sold-out', 'The waiting room is full', detail);
      case 'unauthorized':
      case 'invalid-token':
      case 'token-expired':
        signOut('Your sign-in has expired; sign in again.');
        return showResult('error', 'Please sign in again', detail);
      default:
        if (r.status === 428 || slug.startsWith('pow-')) {
          return showResult('error', 'Proof of work refused', `${detail} Press Buy to try again.`);
        }
        return showResult('error', b.title || 'Something went wrong', b.title && b.detail ? b.detail : detail);
    }
  }

  // ---- the waiting room ---------------------------------------------------------------------
  // A sale with a waiting room (docs/WAITING_ROOM.md): before lobby_opens_at a countdown; then a
  // join (one entry per buyer: a retry, a reload or a second tab gets the same entry back); the
  // cohort closes at starts_at + grace_ms and is shuffled; then "#k of N" until the entry is
  // admitted, when the page books by itself with the admission token. The entry is polled
  // (GET /queue, faster as the turn nears, with backoff on errors) and the live socket's
  // "queue" ticks move the cursor in between.
  const POLL_FAR_MS = 2000;
  const POLL_NEAR_MS = 500;

  function setUpWaitingRoom() {
    $('wr').hidden = false;
    $('arm-row').hidden = true;
    $('wr-commitment').textContent = sale.room.commitment || '–';
    $('wr-fairness').href = `/api/v1/sales/${saleId}/fairness`;
    $('buy-hint').textContent = '';
    if (identity) checkQueue();
  }

  function resetWaitingRoom() {
    clearTimeout(wr.pollTimer);
    Object.assign(wr, {
      entry: null, entryAt: 0, wantJoin: false, joining: false, checked: false, pollTimer: null,
      pollDueAt: 0, errors: 0, bookKey: null, bookedHere: false, bookFailed: false, outcome: null,
      autoBooked: null,
    });
  }

  function onQueueTick(q) {
    wr.live = { ...q, at: localNow() };
    const e = wr.entry;
    if (!e) return;
    // Ask at once when the tick says something changed for this entry.
    if (e.state === 'lobby' && q.state && q.state !== 'lobby') pollSoon(0);
    else if (e.state === 'queued' && e.rank == null && q.cohort_size != null) pollSoon(0);
    else if (e.state === 'queued' && e.rank != null && typeof q.cursor === 'number' && q.cursor >= e.rank) pollSoon(0);
    else if (e.state === 'queued' && q.state === 'sold-out') pollSoon(0);
  }

  // Whether this buyer already has an entry (a reload, another tab): 404 not-in-queue if not.
  async function checkQueue() {
    if (!identity || wr.entry || wr.polling) return;
    wr.polling = true;
    try {
      // The signed receipt once (a poll leaves it out: signing is most of a poll's cost).
      const r = await api('GET', `/api/v1/sales/${saleId}/queue?receipt=1`, undefined, authHeaders());
      wr.checked = true;
      if (r.status === 200 && r.body) applyEntry(r.body);
    } catch {
      // the join or the next check will tell
    } finally {
      wr.polling = false;
      render();
    }
  }

  function pressWaitingRoom() {
    if (!identity) return;
    const e = wr.entry;
    if (e && e.state === 'admitted' && e.admission) {
      bookAdmitted();
      return;
    }
    wr.wantJoin = true;
    render(); // joins now, or at the lobby's opening
  }

  async function joinQueue() {
    if (wr.joining || !identity || wr.entry) return;
    wr.joining = true;
    render();
    let needPow = false;
    let freshPow = false;
    let powTries = 0;
    try {
      for (;;) {
        const headers = authHeaders();
        let used = null;
        if (needPow) {
          showResult('working', 'Getting ready…', 'Solving the proof of work this waiting room asks for.');
          used = await getPow(freshPow);
          freshPow = false;
          headers['X-Pow-Challenge'] = used.challenge;
          headers['X-Pow-Solution'] = used.solution;
        }
        const r = await api('POST', `/api/v1/sales/${saleId}/queue`, {}, headers);
        if (used) used.used = true;
        const slug = problemSlug(r.body);
        if ((r.status === 200 || r.status === 201) && r.body) {
          if ($('result').dataset.state === 'working') showResult('idle', '', '');
          applyEntry(r.body);
          return;
        }
        if (r.status === 428 || slug.startsWith('pow-')) {
          // The work is asked for a new entry only; a second refusal is shown as it is.
          if (powTries >= 2) throw new ProblemError(r);
          powTries += 1;
          needPow = true;
          freshPow = powTries > 1;
          continue;
        }
        if (slug === 'lobby-not-open' || r.status === 429 || r.status === 503) {
          // Early by the server's clock, or busy: wait as told and join then (the same entry
          // either way, so retrying is safe).
          if (slug === 'lobby-not-open') pingBurst();
          const waitMs = retryAfterMs(r);
          showResult('throttled', slug === 'lobby-not-open' ? 'The lobby opens in a moment' : 'Busy – retrying automatically',
            `Joining in ${(waitMs / 1000).toFixed(1)} s.`);
          await sleep(waitMs);
          continue;
        }
        throw new ProblemError(r);
      }
    } catch (e) {
      wr.wantJoin = false; // a refusal the buyer must see; pressing Join again retries
      if (e instanceof ProblemError) showProblem(e.response);
      else showResult('error', 'Network error', `${e.message || e}. Press Join to try again (you keep one entry).`);
    } finally {
      wr.joining = false;
      render();
    }
  }

  function applyEntry(body) {
    // Polls carry no receipt: keep the one the join (or the first check) gave.
    if (!body.receipt && wr.entry && wr.entry.entry_id === body.entry_id) body.receipt = wr.entry.receipt;
    wr.entry = body;
    wr.entryAt = localNow();
    wr.errors = 0;
    wr.wantJoin = false;
    const st = body.state;
    if (st === 'admitted' && body.admission && !wr.bookedHere && wr.autoBooked !== body.admission.token) {
      wr.autoBooked = body.admission.token; // once per admission; the button offers a retry
      bookAdmitted();
    } else if (st === 'booked') {
      if (!wr.bookedHere && wr.outcome !== 'booked') showBooked();
    } else if (st === 'sold-out') {
      if (wr.outcome !== 'sold-out') showRoomSoldOut();
    } else if (st === 'expired') {
      if (wr.outcome !== 'expired') showTurnPassed();
    } else if (st === 'closed') {
      if (wr.outcome !== 'closed' && !wr.bookedHere) {
        wr.outcome = 'closed';
        showResult('closed', 'The sale has ended', 'The waiting room is closed.');
      }
    } else if (wr.outcome === 'sold-out' && st === 'queued' && sale.remaining !== 0) {
      // A unit came back (an expired hold): the line moves again.
      wr.outcome = null;
      showResult('idle', '', '');
    }
    schedulePoll();
    render();
  }

  function nextPollMs() {
    const e = wr.entry;
    if (!e || ['booked', 'expired', 'closed'].includes(e.state)) return null;
    if (wr.errors > 0) return Math.min(30000, 1000 * 2 ** wr.errors);
    if (e.state === 'lobby') {
      // Nothing changes in the lobby until the cohort closes; ask right after it does.
      const toClose = sale.room.closesAtMs - serverNow();
      return toClose > 5000 + POLL_FAR_MS ? 5000 : Math.max(250, Math.min(POLL_FAR_MS, toClose + 250));
    }
    if (e.state === 'sold-out') return 5000;
    if (e.state === 'admitted') return POLL_FAR_MS;
    if (e.rank == null) return POLL_NEAR_MS; // being shuffled: the ranks are seconds away
    const v = lineView();
    if (v.ahead === null) return POLL_FAR_MS;
    return v.ahead <= 3 ? POLL_NEAR_MS : v.ahead <= 20 ? 1000 : POLL_FAR_MS;
  }

  function schedulePoll() {
    const ms = nextPollMs();
    clearTimeout(wr.pollTimer);
    wr.pollTimer = null;
    if (ms === null) return;
    wr.pollDueAt = localNow() + ms;
    wr.pollTimer = setTimeout(poll, ms);
  }

  function pollSoon(ms) {
    if (!wr.entry || wr.polling) return;
    if (wr.pollTimer && wr.pollDueAt <= localNow() + ms) return;
    clearTimeout(wr.pollTimer);
    wr.pollDueAt = localNow() + ms;
    wr.pollTimer = setTimeout(poll, ms);
  }

  async function poll() {
    wr.pollTimer = null;
    if (!identity || !wr.entry || wr.polling) return;
    wr.polling = true;
    try {
      const r = await api('GET', `/api/v1/sales/${saleId}/queue`, undefined, authHeaders());
      if (r.status === 200 && r.body) {
        wr.polling = false;
        applyEntry(r.body);
        return;
      }
      const slug = problemSlug(r.body);
      if (r.status === 401) {
        signOut('Your sign-in has expired; sign in again.');
        return;
      }
      if (slug === 'sale-not-found' || slug === 'waiting-room-not-found') {
        wr.entry = { ...wr.entry, state: 'closed' };
        showResult('closed', 'The sale has ended', 'The waiting room is gone.');
        return;
      }
      wr.errors += 1;
    } catch {
      wr.errors += 1;
    } finally {
      wr.polling = false;
    }
    schedulePoll();
    render();
  }

  async function bookAdmitted() {
    const e = wr.entry;
    if (busy || !identity || !e || !e.admission || wr.bookedHere) return;
    busy = true;
    wr.bookFailed = false;
    render();
    // One key for every try of this admission: a booking whose answer got lost is replayed.
    wr.bookKey ||= newIdempotencyKey();
    const attempt = { key: wr.bookKey, throttled: 0, powRetries: 0, admission: e.admission.token };
    try {
      await book(attempt);
    } catch (err) {
      if (err instanceof ProblemError) showProblem(err.response);
      else showResult('error', 'Network error', `${err.message || err}. Press Book now to try again.`);
    } finally {
      busy = false;
      wr.bookFailed = !wr.bookedHere && $('result').dataset.state === 'error';
      render();
      pollSoon(200);
    }
  }

  function showBooked() {
    wr.outcome = 'booked';
    showResult('booked', 'Booked', 'Your turn was used for a booking: it is in your orders.');
  }

  function showTurnPassed() {
    wr.outcome = 'expired';
    const at = wr.entry && wr.entry.admission ? Date.parse(wr.entry.admission.expires_at) : null;
    showResult('expired', 'Your turn passed',
      `${at ? `Your turn ended at ${formatClockTime(at)}` : 'Your turn ended'} before a booking was made; ` +
      'your place went to the next in line.');
  }

  function showRoomSoldOut() {
    wr.outcome = 'sold-out';
    sale.remaining = 0;
    showResult('sold-out', 'Sold out', 'Every unit was taken before your turn. A unit that comes back ' +
      '(an unpaid hold) goes to the next in line, so this page keeps your place and watches.');
  }

  // The line as this page sees it now: the last poll, moved on by newer live ticks.
  function lineView() {
    const e = wr.entry;
    const line = e && e.line && typeof e.line === 'object' ? e.line : null;
    const live = wr.live && wr.live.at >= wr.entryAt && wr.live.cohort_size != null ? wr.live : null;
    const v = {
      rank: e && typeof e.rank === 'number' ? e.rank : null,
      n: e && typeof e.cohort_size === 'number' ? e.cohort_size : null,
      cohort: !!(e && e.cohort),
      ahead: line && typeof line.ahead === 'number' ? line.ahead : null,
      outstanding: line ? line.outstanding : null,
      remaining: line && typeof line.remaining === 'number' ? line.remaining : sale.remaining,
      rate: line ? line.admit_rate_per_minute : null,
      etaS: line && typeof line.eta_seconds === 'number'
        ? Math.max(0, line.eta_seconds - (localNow() - wr.entryAt) / 1000) : null,
      likely: !!(line && line.likely_sold_out),
      paused: !!(line && line.paused),
    };
    if (live) {
      if (typeof live.outstanding === 'number') v.outstanding = live.outstanding;
      if (typeof live.remaining === 'number') v.remaining = live.remaining;
      if (typeof live.admit_rate_per_minute === 'number') v.rate = live.admit_rate_per_minute;
      // Until a rate is measured, the sale's own pace (as the server's eta_seconds does).
      else if (v.rate == null && typeof live.admit_per_minute === 'number') v.rate = live.admit_per_minute;
      v.paused = live.state === 'paused';
      if (v.rank !== null && typeof live.cursor === 'number') {
        v.ahead = Math.max(0, v.rank - 1 - live.cursor);
        v.etaS = null;
      }
      v.likely = v.ahead !== null && typeof v.outstanding === 'number' && typeof v.remaining === 'number' &&
        v.ahead + v.outstanding >= v.remaining;
    }
    if (v.etaS === null && v.ahead !== null && v.rate > 0) v.etaS = (v.ahead / v.rate) * 60;
    // Admission is bounded by the stock, not by time: when the units will likely be gone
    // before this place, any ETA would be invented.
    if (v.likely || v.paused) v.etaS = null;
    return v;
  }

  function formatWait(seconds) {
    if (seconds < 60) return `about ${Math.ceil(seconds / 5) * 5} s`;
    if (seconds < 3600) return `about ${Math.round(seconds / 60)} min`;
    return `about ${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  }

  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
    const hide = !text;
    if (el.hidden !== hide && id !== 'wr-position' && id !== 'wr-ahead') el.hidden = hide;
  }

  // The countdown of a waiting-room sale: to the lobby, to the start, to the cohort's close;
  // null once the line has formed (the ordinary "open now" clock).
  function waitingRoomClock(now, phase) {
    const r = sale.room;
    if (['closed', 'stopped', 'paused', 'sold-out'].includes(phase)) return null;
    if (now < r.lobbyOpensAtMs) {
      return { label: 'The waiting room opens in', text: formatDuration(r.lobbyOpensAtMs - now, true),
        ms: r.lobbyOpensAtMs - now, phase: 'lobby opens soon' };
    }
    if (now < sale.startsAtMs) {
      return { label: 'Lobby open · the sale starts in', text: formatDuration(sale.startsAtMs - now, true),
        ms: sale.startsAtMs - now, phase: 'lobby open' };
    }
    if (now < r.closesAtMs) {
      return { label: 'Started · same odds for anyone joining in the next', text: formatDuration(r.closesAtMs - now, true),
        ms: r.closesAtMs - now, phase: 'grace window' };
    }
    return null;
  }

  function renderWaitingRoom(now, phase) {
    const room = sale.room;
    const e = wr.entry;
    const st = e ? e.state : null;
    const v = e ? lineView() : null;
    let state = 'join';
    let position = '';
    let ahead = '';
    let eta = '';
    let warning = '';
    if (!e) {
      state = now < room.lobbyOpensAtMs ? 'before-lobby' : now < room.closesAtMs ? 'lobby-open' : 'fifo-open';
      if (now >= room.closesAtMs) ahead = 'The line has been shuffled: joining now puts you behind it, first come, first served.';
    } else if (st === 'lobby') {
      state = 'lobby';
      position = 'You are in the waiting room';
      ahead = e.cohort
        ? 'Your place is drawn at random when the line is shuffled: it does not depend on when you joined.'
        : 'You joined past this address\u2019s entries in the lottery: you queue first come, first served behind it.';
    } else if (st === 'queued' && v.rank === null) {
      state = 'shuffling';
      position = 'The line is being shuffled…';
      ahead = e.cohort ? 'Everyone who joined in time gets a place drawn at random.' : 'You queue behind the shuffled line.';
    } else if (st === 'queued' && (wr.outcome === 'sold-out' || (sale.remaining === 0 && !wr.bookedHere))) {
      state = 'sold-out';
      position = 'Sold out';
      ahead = `You were #${v.rank}${v.cohort && v.n ? ` of ${v.n}` : ' in line'}.`;
      if (wr.outcome !== 'sold-out') queueMicrotask(showRoomSoldOut);
    } else if (st === 'queued') {
      state = 'queued';
      position = v.cohort && v.n ? `#${v.rank} of ${v.n}` : `#${v.rank} in line`;
      ahead = v.ahead === null ? '' : v.ahead === 0 ? 'Nobody waiting ahead of you' : `${v.ahead} ahead of you`;
      if (v.paused) eta = 'Admission is paused by the shop; your place is kept.';
      else if (v.etaS !== null) eta = v.etaS < 5 ? 'Your turn comes any moment now' : `Your turn in ${formatWait(v.etaS)}`;
      else if (!v.likely) eta = 'Estimating your wait from the pace of admission…';
      if (v.likely) {
        const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
        const before = [];
        if (v.outstanding > 0) before.push(`${plural(v.outstanding, 'buyer', 'buyers')} admitted before you`);
        if (v.ahead > 0) before.push(`${v.ahead} waiting ahead of you`);
        warning = `Likely to sell out before your turn: ${v.remaining} left` +
          (before.length ? ` for ${before.join(' and ')}.` : '.');
      }
    } else if (st === 'admitted') {
      state = wr.bookedHere ? 'booked' : 'admitted';
      position = wr.bookedHere ? 'Booked' : 'It\u2019s your turn';
      ahead = wr.bookedHere ? 'Your turn was used for this booking.'
        : busy ? 'Booking for you…'
          : `Book before ${formatClockTime(Date.parse(e.admission && e.admission.expires_at))}.`;
    } else if (st === 'booked') {
      state = 'booked';
      position = 'Booked';
      ahead = 'Your turn was used for this booking.';
    } else if (st === 'sold-out') {
      state = 'sold-out';
      position = 'Sold out';
      ahead = v.rank ? `You were #${v.rank}${v.cohort && v.n ? ` of ${v.n}` : ' in line'}.` : '';
    } else if (st === 'expired') {
      state = 'expired';
      position = 'Your turn passed';
    } else {
      state = 'closed';
      position = 'The sale has ended';
    }
    const panel = $('wr');
    if (panel.dataset.state !== state) panel.dataset.state = state;
    // The join's proof of work is done with once the line has formed.
    if (e && st !== 'lobby' && !$('pow').hidden && !wr.joining) $('pow').hidden = true;
    setText('wr-position', position);
    setText('wr-ahead', ahead);
    setText('wr-eta', eta);
    setText('wr-warning', warning);
    // Before the cohort closes: the promise the shuffle keeps, in the buyer's own time.
    setText('wr-odds', now < room.closesAtMs && (!e || e.cohort)
      ? `Joining any time before ${formatClockTime(room.closesAtMs)} gives the same odds.` : '');
    const commitment = (e && e.commitment) || room.commitment || '–';
    if ($('wr-commitment').textContent !== commitment) $('wr-commitment').textContent = commitment;
    $('wr-receipt').hidden = !e;
    if (e && $('wr-entry').textContent !== e.entry_id) {
      $('wr-entry').textContent = e.entry_id;
      $('wr-entry').title = `Signed receipt: ${e.receipt || ''}`;
    }

    // The one button: join, then wait, then (only if the automatic booking failed) book.
    let text = 'Join the waiting room';
    let enabled = false;
    let hint;
    const closed = ['closed', 'stopped'].includes(phase) || st === 'closed';
    if (!identity) hint = 'Enter your user id to take part.';
    else if (closed) hint = 'This sale is not taking orders.';
    else if (!e) {
      const armedForLobby = wr.wantJoin && now < room.lobbyOpensAtMs;
      if (wr.joining) text = 'Joining…';
      enabled = !wr.joining && !armedForLobby && phase !== 'sold-out';
      hint = phase === 'sold-out' ? 'Every unit has been taken.'
        : armedForLobby ? `This page joins for you when the lobby opens at ${formatClockTime(room.lobbyOpensAtMs)}.`
          : now < room.lobbyOpensAtMs ? `Press now and this page joins for you at ${formatClockTime(room.lobbyOpensAtMs)}.`
            : wr.joining ? 'Joining the waiting room…'
              : 'One entry per buyer: more tabs or presses do not add chances.';
      // Joins as soon as the lobby is open (the server's clock), once the buyer asked to.
      if (wr.wantJoin && !wr.joining && now >= room.lobbyOpensAtMs) queueMicrotask(joinQueue);
    } else if (st === 'admitted' && !wr.bookedHere) {
      text = busy ? 'Booking…' : 'Book now';
      enabled = !busy && wr.bookFailed;
      hint = busy ? 'Your turn: booking for you…' : 'Your turn: book now.';
    } else if (st === 'booked' || wr.bookedHere) {
      text = 'Booked';
      hint = wr.bookedHere ? 'Pay before the hold runs out to keep the unit.' : '';
    } else if (st === 'sold-out' || state === 'sold-out') {
      text = 'Sold out';
      hint = 'This page keeps your place in case a unit comes back.';
    } else if (st === 'expired') {
      text = 'Your turn passed';
      hint = '';
    } else {
      text = 'In the waiting room';
      hint = 'Keep this page open: it books for you when your turn comes.';
    }
    const button = $('buy');
    if (button.textContent !== text) button.textContent = text;
    if (button.disabled === enabled) button.disabled = !enabled;
    if ($('buy-hint').textContent !== hint) $('buy-hint').textContent = hint;
    if (!$('arm-row').hidden) $('arm-row').hidden = true;
  }

  // ---- start --------------------------------------------------------------------------------
  $('dev-login').addEventListener('submit', devLogin);
  $('sign-out').addEventListener('click', () => signOut());
  $('buy').addEventListener('click', () => (sale.room ? pressWaitingRoom() : buy()));
  $('arm').addEventListener('change', (e) => {
    armed = e.target.checked;
    if (armed && identity && sale.powDifficulty > 0 && !powPrefetched) {
      powPrefetched = true;
      preparePow().catch(() => {});
    }
    render();
  });
  loadIdentity();
  loadSale().then((ok) => {
    if (!ok) return;
    if (sale.room) setUpWaitingRoom();
    connectLive();
    render();
    setInterval(render, 100);
  });
})();
