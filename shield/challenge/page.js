// Shield challenge page: solves the proof-of-work puzzle embedded in the page and retries.
// No third-party code. Web Crypto when the origin is a secure context, else our own SHA-256
// (plain-http origins have no crypto.subtle). The solution travels back in a short-lived
// cookie `shield_challenge=<token>.<nonce>`; the request body (a password) is never echoed here.
(function () {
  "use strict";

  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Uint32Array(64);

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  // FIPS 180-4 SHA-256 of a Uint8Array; returns a Uint8Array of 32 bytes.
  function sha256(bytes) {
    var H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    var len = bytes.length;
    var buf = new Uint8Array(((len + 9 + 63) >> 6) << 6);
    buf.set(bytes);
    buf[len] = 0x80;
    var dv = new DataView(buf.buffer);
    dv.setUint32(buf.length - 8, Math.floor(len / 0x20000000));
    dv.setUint32(buf.length - 4, (len * 8) >>> 0);
    for (var off = 0; off < buf.length; off += 64) {
      var t;
      for (t = 0; t < 16; t++) W[t] = dv.getUint32(off + 4 * t);
      for (t = 16; t < 64; t++) {
        var x = W[t - 15], y = W[t - 2];
        var s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
        var s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
        W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (t = 0; t < 64; t++) {
        var S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        var ch = (e & f) ^ (~e & g);
        var t1 = (h + S1 + ch + K[t] + W[t]) | 0;
        var S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    var out = new Uint8Array(32);
    var odv = new DataView(out.buffer);
    for (var i = 0; i < 8; i++) odv.setUint32(4 * i, H[i]);
    return out;
  }
  window.shieldSha256 = sha256;

  function leadingZeroBits(digest) {
    var bits = 0;
    for (var i = 0; i < digest.length; i++) {
      if (digest[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(digest[i]) - 24;
    }
    return bits;
  }

  function b64urlDecode(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function candidate(seed, nonce) {
    var digits = String(nonce);
    var buf = new Uint8Array(seed.length + digits.length);
    buf.set(seed);
    for (var i = 0; i < digits.length; i++) buf[seed.length + i] = digits.charCodeAt(i);
    return buf;
  }

  // Batches keep the page responsive: yield a task between them. A MessageChannel task, not
  // setTimeout, whose nested calls Chromium clamps to 4 ms (that would halve the solve rate).
  var BATCH = 2048;
  var channel = new MessageChannel();
  var waiting = [];
  channel.port1.onmessage = function () { waiting.shift()(); };
  function yieldTask() {
    return new Promise(function (r) { waiting.push(r); channel.port2.postMessage(0); });
  }

  function solveJs(seed, difficulty, start) {
    for (var n = start; n < start + BATCH; n++) {
      if (leadingZeroBits(sha256(candidate(seed, n))) >= difficulty) return Promise.resolve(n);
    }
    return yieldTask().then(function () { return solveJs(seed, difficulty, start + BATCH); });
  }

  function solveWebCrypto(seed, difficulty, start) {
    var jobs = [];
    for (var n = start; n < start + BATCH / 4; n++) jobs.push(crypto.subtle.digest("SHA-256", candidate(seed, n)));
    return Promise.all(jobs).then(function (digests) {
      for (var i = 0; i < digests.length; i++) {
        if (leadingZeroBits(new Uint8Array(digests[i])) >= difficulty) return start + i;
      }
      // Yield a task between batches, or digest promises starve rendering and the load event.
      return yieldTask().then(function () { return solveWebCrypto(seed, difficulty, start + digests.length); });
    });
  }

  var MAX_RELOADS = 3;
  var RELOAD_WINDOW_MS = 5 * 60 * 1000;

  function reloadAllowed() {
    try {
      var key = "shield_reloads:" + location.pathname;
      var now = Date.now();
      var seen = JSON.parse(sessionStorage.getItem(key) || "null");
      var rounds = seen && now - seen.t < RELOAD_WINDOW_MS ? seen.n : 0;
      if (rounds >= MAX_RELOADS) return false;
      sessionStorage.setItem(key, JSON.stringify({ n: rounds + 1, t: seen && rounds ? seen.t : now }));
    } catch (e) {
      // No sessionStorage (disabled or sandboxed): reload once at most, by this page's own memory.
      if (window.shieldReloaded) return false;
      window.shieldReloaded = true;
    }
    return true;
  }

  function say(text) { document.getElementById("shield-status").textContent = text; }

  function done(data, nonce, engine) {
    var c = data.challenge;
    var maxAge = Math.max(1, c.expires_at - Math.floor(Date.now() / 1000));
    var cookie = "shield_challenge=" + c.token + "." + nonce + "; Max-Age=" + maxAge + "; Path=/; SameSite=Lax";
    if (location.protocol === "https:") cookie += "; Secure";
    document.cookie = cookie;
    console.log("shield: solved with " + engine + " nonce=" + nonce);
    document.documentElement.setAttribute("data-shield-engine", engine);
    if (data.method === "GET" || data.method === "HEAD") {
      // A request still refused after solving would reload forever: give up after a few rounds.
      if (!reloadAllowed()) {
        say("Your browser was checked, but this request is still refused. Please try again later.");
        return;
      }
      say("Verified. Loading\u2026");
      location.replace(location.href);
    } else {
      // A form post: its body (a password) was never sent back to this page, so the user
      // submits the form again; the cookie carries the solution with it.
      say("Verified. Please submit the form again.");
      var back = document.getElementById("shield-back");
      back.hidden = false;
      back.addEventListener("click", function () { history.back(); });
      if (history.length > 1) setTimeout(function () { history.back(); }, 800);
    }
  }

  function start() {
    var data = JSON.parse(document.getElementById("shield-challenge").textContent);
    var c = data.challenge;
    var seed = b64urlDecode(c.seed);
    var webcrypto = !!(window.crypto && window.crypto.subtle && typeof window.crypto.subtle.digest === "function");
    var engine = webcrypto ? "webcrypto" : "js";
    say("Checking your browser\u2026");
    var solving = webcrypto ? solveWebCrypto(seed, c.difficulty, 0) : solveJs(seed, c.difficulty, 0);
    solving.then(function (nonce) { done(data, nonce, engine); }, function (err) {
      say("Verification failed: " + err + ". Reload the page to try again.");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
