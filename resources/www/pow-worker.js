// Proof of work for the buyer page (docs/ADMISSION.md): find a decimal string s such that
// SHA-256(challenge + ":" + s) begins with `difficulty` zero bits.
//
// A small SHA-256 in plain JavaScript rather than crypto.subtle.digest: one await per hash is
// slow, crypto.subtle only exists on secure origins, and the prefix `challenge + ":"` never
// changes, so its full 64-byte blocks are hashed once (the "midstate") and each candidate
// costs only the last one or two blocks.
//
// Messages in:  {id, challenge, difficulty}
// Messages out: {type: "progress", id, hashes, rate}             about every 100 ms
//               {type: "solved", id, solution, hashes, ms, rate}
'use strict';

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const W = new Uint32Array(64);

// One SHA-256 compression of bytes[off .. off+64) into the state H (Uint32Array(8)).
function compress(H, bytes, off) {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15];
    const y = W[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = W[i - 16] + s0 + W[i - 7] + s1;
  }
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  H[0] += a; H[1] += b; H[2] += c; H[3] += d;
  H[4] += e; H[5] += f; H[6] += g; H[7] += h;
}

function utf8(text) {
  return new TextEncoder().encode(text);
}

// Whether the digest H starts with `bits` zero bits.
function hasLeadingZeroBits(H, bits) {
  let i = 0;
  for (; bits >= 32; bits -= 32, i++) if (H[i] !== 0) return false;
  return bits === 0 || H[i] >>> (32 - bits) === 0;
}

function toHex(H) {
  let out = '';
  for (let i = 0; i < 8; i++) out += H[i].toString(16).padStart(8, '0');
  return out;
}

// A hasher for prefix + suffix with the prefix's full blocks hashed once.
function makeHasher(prefixText) {
  const prefix = utf8(prefixText);
  const fullBlocks = Math.floor(prefix.length / 64);
  const mid = new Uint32Array(IV);
  for (let b = 0; b < fullBlocks; b++) compress(mid, prefix, b * 64);
  const rest = prefix.subarray(fullBlocks * 64);
  const tail = new Uint8Array(128 + 64);
  const H = new Uint32Array(8);
  // Hashes prefix + an ASCII suffix (the decimal candidate); returns the state, reused.
  return function hash(suffix) {
    tail.set(rest, 0);
    let n = rest.length;
    for (let k = 0; k < suffix.length; k++) tail[n++] = suffix.charCodeAt(k);
    const bitLength = (fullBlocks * 64 + n) * 8;
    tail[n++] = 0x80;
    const blocks = Math.ceil((n + 8) / 64);
    tail.fill(0, n, blocks * 64);
    const end = blocks * 64;
    tail[end - 8] = 0; tail[end - 7] = 0; tail[end - 6] = 0; // lengths below 2^40 bits
    tail[end - 5] = Math.floor(bitLength / 0x100000000) & 0xff;
    tail[end - 4] = bitLength >>> 24; tail[end - 3] = (bitLength >>> 16) & 0xff;
    tail[end - 2] = (bitLength >>> 8) & 0xff; tail[end - 1] = bitLength & 0xff;
    H.set(mid);
    for (let b = 0; b < blocks; b++) compress(H, tail, b * 64);
    return H;
  };
}

// SHA-256 of any text, as hex (for checking the hasher against a reference).
function sha256Hex(text) {
  return toHex(makeHasher(text)(''));
}

// Tries s = 0, 1, 2, ... and calls onProgress(hashes, rate) about every 100 ms.
function solve(challenge, difficulty, onProgress) {
  const hash = makeHasher(challenge + ':');
  const started = Date.now();
  let lastReport = started;
  for (let s = 0; ; s++) {
    const H = hash(String(s));
    if (hasLeadingZeroBits(H, difficulty)) {
      const ms = Date.now() - started;
      return { solution: String(s), hashes: s + 1, ms, digest: toHex(H) };
    }
    if ((s & 0x3fff) === 0x3fff && onProgress) {
      const now = Date.now();
      if (now - lastReport >= 100) {
        lastReport = now;
        onProgress(s + 1, Math.round(((s + 1) * 1000) / Math.max(1, now - started)));
      }
    }
  }
}

if (typeof self !== 'undefined' && typeof self.postMessage === 'function' &&
    typeof importScripts === 'function') {
  self.onmessage = (event) => {
    const { id, challenge, difficulty } = event.data;
    const result = solve(challenge, difficulty, (hashes, rate) =>
      self.postMessage({ type: 'progress', id, hashes, rate }));
    self.postMessage({
      type: 'solved', id, solution: result.solution, hashes: result.hashes, ms: result.ms,
      rate: Math.round((result.hashes * 1000) / Math.max(1, result.ms)),
    });
  };
}

// For the Node.js check in tests/web (the file is a classic worker script, not a module).
if (typeof module !== 'undefined' && module.exports) {
  module.exports = { sha256Hex, solve, hasLeadingZeroBits };
}
