// Open-loop load at a fixed rate (node bench/openloop.js URL TOKENS_FILE RATE SECONDS).
// SIGTERM ends it early: nothing more is sent, and the report follows the last answer.
// Requests are sent on schedule whether or not earlier ones have answered, and each latency is
// measured from the moment the request was due, so a stall shows in the tail instead of being
// hidden (a closed loop such as wrk waits, and omits the requests it never sent).
// Prints one JSON line: sent, ok, errors, error_kinds, achieved_rps, p50_ms, p99_ms, p999_ms, max_ms.
// With OCH_OPENLOOP_SAMPLES=FILE it also writes each request as "due_ms latency_ms status" (due
// from the epoch), for a timeline of the tail against what else ran.
"use strict";
const http = require("http");
const fs = require("fs");

const [url, tokensFile, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const tokens = fs.readFileSync(tokensFile, "utf8").split("\n").filter(Boolean);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

let total = Math.floor(rate * seconds);
const latencies = [];
let ok = 0;
let errors = 0;
let done = 0;
let sent = 0;
const samples = process.env.OCH_OPENLOOP_SAMPLES ? [] : null;
const start = process.hrtime.bigint();
const epochStartMs = Date.now();
const nowMs = () => Number(process.hrtime.bigint() - start) / 1e6;

function send(k) {
  const due = (k * 1000) / rate;
  const req = http.request(
    {
      host: target.hostname, port: target.port, path: target.pathname + target.search,
      agent, headers: { Authorization: "Bearer " + tokens[k % tokens.length] },
      timeout: 10000,
    },
    (res) => {
      res.resume();
      res.on("end", () => {
        latencies.push(nowMs() - due);
        if (samples) samples.push(`${(epochStartMs + due).toFixed(1)} ${(nowMs() - due).toFixed(2)} ${res.statusCode}`);
        if (res.statusCode >= 200 && res.statusCode < 300) ok++; else failed(`http_${res.statusCode}`);
        finish();
      });
    });
  req.on("error", (err) => {
    failed(err.code || err.message);
    latencies.push(nowMs() - due);
    if (samples) samples.push(`${(epochStartMs + due).toFixed(1)} ${(nowMs() - due).toFixed(2)} error`);
    finish();
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.end();
}

// what failed, by kind (an HTTP status, or the socket error's code: ECONNRESET, timeout)
const errorKinds = {};
function failed(kind) {
  errors++;
  errorKinds[kind] = (errorKinds[kind] || 0) + 1;
}

function finish() {
  done++;
  if (done >= total) report();
}

process.on("SIGTERM", () => {
  total = sent;
  if (done >= total) report();
});

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  if (samples) fs.writeFileSync(process.env.OCH_OPENLOOP_SAMPLES, samples.join("\n") + "\n");
  const sorted = latencies.slice().sort((a, b) => a - b);
  const elapsed = nowMs() / 1000;
  process.stdout.write(JSON.stringify({
    sent, ok, errors, error_kinds: errorKinds, target_rps: rate, achieved_rps: Math.round(sent / Math.min(elapsed, seconds)),
    seconds: +elapsed.toFixed(1),
    p50_ms: +pct(sorted, 50).toFixed(2), p99_ms: +pct(sorted, 99).toFixed(2),
    p999_ms: +pct(sorted, 99.9).toFixed(2), max_ms: +sorted[sorted.length - 1].toFixed(2),
  }) + "\n");
  agent.destroy();
}

function tick() {
  const t = nowMs();
  while (sent < total && (sent * 1000) / rate <= t) send(sent++);
  if (sent < total) setTimeout(tick, 1);
}
tick();
