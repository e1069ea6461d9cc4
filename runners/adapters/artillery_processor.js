/*
 * perfmon's Artillery plugin: streams one perfmon result stream record per
 * HTTP request (runners/stream.py, version 1) to the file named by the
 * PERFMON_RESULT_PATH environment variable.
 *
 * Why a plugin and not config.processor: a script has one processor module,
 * and it may be the user's. Artillery loads plugins after the processor, in
 * every worker, and lets them add functions to the loaded processor object
 * and hook names to the scenarios (its metrics-by-endpoint plugin does the
 * same). The adapter enables it without touching the user's YAML, through
 * ARTILLERY_PLUGINS='{"perfmon":{}}' and ARTILLERY_PLUGIN_PATH; it copies this
 * file to <work dir>/.perfmon-artillery/artillery-plugin-perfmon/index.js.
 *
 * Why records of our own: Artillery counts an HTTP 500 as a response, not an
 * error, and writes no report when stopped early. Each record is written
 * with one write(2) on an O_APPEND descriptor, so what is on disk is usable
 * whenever the process stops, and several workers can append to one file.
 *
 * Timing: got's timings (Date.now(), whole milliseconds). t = timings.start,
 * the moment the request was created (before DNS/connect); ms =
 * timings.phases.total, start until the response body ended (or the error).
 * Artillery's own http.response_time is phases.firstByte instead.
 *
 * Per record: name = the request's `name`, else "METHOD path"; method = the
 * request's method; error (failed requests only) = err.code, else
 * err.message, the key Artillery itself counts errors under (its
 * errors.ECONNREFUSED, errors.ETIMEDOUT metrics).
 *
 * Checks: when the script uses Artillery's expect plugin (config.plugins.expect),
 * every expectation it evaluates is written as a check line, named
 * "<request name>: <type> <expected>" (e.g. "home: statusCode 200"), from the
 * plugin:expect:expectations event it emits on the scenario's event emitter.
 */
'use strict';

const fs = require('node:fs');

const PATH_ENV = 'PERFMON_RESULT_PATH';
const RECORDED = Symbol('perfmonRecorded');
const LISTENING = Symbol('perfmonListening');

let fd = null;

function open() {
  const path = process.env[PATH_ENV];
  if (!path) {
    throw new Error(`perfmon plugin: ${PATH_ENV} is not set`);
  }
  fd = fs.openSync(path, 'a');
  // A header per worker: the reader accepts repeats, and each worker's
  // header is on disk before any of its records.
  fs.writeSync(fd, JSON.stringify({ perfmon_stream: 1, tool: 'artillery' }) + '\n');
}

function write(record) {
  if (fd === null) {
    return;
  }
  // Never let a full disk or a closed file end the user's scenario.
  try {
    fs.writeSync(fd, JSON.stringify(record) + '\n');
  } catch (_err) {
    /* the missing records show as a short count */
  }
}

function requestName(req) {
  if (req.name) {
    return String(req.name);
  }
  let path = req.url || '';
  try {
    const u = new URL(path);
    path = u.pathname + u.search;
  } catch (_err) {
    /* keep the raw url */
  }
  return `${req.method || 'GET'} ${path}`;
}

function errorOf(err) {
  if (!err) {
    return 'no response';
  }
  return String(err.code || err.message || err);
}

// The expect plugin's verdicts on one response, one check line each.
function writeExpectations(expectations, req) {
  const name = requestName(req || {});
  for (const result of (expectations && expectations.results) || []) {
    write({ check: `${name}: ${result.type} ${result.expected}`, ok: Boolean(result.ok) });
  }
}

function listenForExpectations(events) {
  if (events && typeof events.on === 'function' && !events[LISTENING]) {
    events[LISTENING] = true;
    events.on('plugin:expect:expectations', writeExpectations);
  }
}

function perfmonAfterResponse(req, res, _context, events, done) {
  listenForExpectations(events); // ours runs first: listening before the expect plugin emits
  if (!req[RECORDED]) {
    req[RECORDED] = true;
    const timings = res.timings || {};
    const now = Date.now();
    const start = typeof timings.start === 'number' ? timings.start : now;
    let ms = timings.phases && timings.phases.total;
    if (typeof ms !== 'number') {
      ms = (typeof timings.end === 'number' ? timings.end : now) - start;
    }
    write({
      t: start / 1000,
      ms: Math.max(0, ms),
      status: res.statusCode,
      ok: true, // Artillery judges no status code failed; the perfmon error rule does
      name: requestName(req),
      method: String(req.method || 'GET')
    });
  }
  return done();
}

// Artillery calls onError hooks when a request got no (complete) response:
// connection refused or reset, DNS failure, timeout. It may call them twice
// for one request (got's error event and its promise), hence the mark.
function perfmonOnError(err, req, _context, _events, done) {
  if (req && !req[RECORDED]) {
    req[RECORDED] = true;
    const timings = (err && err.timings) || {};
    const now = Date.now();
    const start = typeof timings.start === 'number' ? timings.start : now;
    const end = [timings.error, timings.abort, timings.end].find((v) => typeof v === 'number');
    const status = err && err.response && err.response.statusCode;
    write({
      t: start / 1000,
      ms: Math.max(0, (end === undefined ? now : end) - start),
      status: typeof status === 'number' ? status : 0,
      ok: false,
      name: requestName(req),
      method: String(req.method || 'GET'),
      error: errorOf(err)
    });
  }
  return done();
}

function isHttpScenario(scenario, script) {
  const engine = scenario.engine || (script.config && script.config.engine) || 'http';
  return engine === 'http';
}

function PerfmonPlugin(script, _events) {
  // Artillery 2 also constructs plugins in the main process, on a throw-away
  // copy of the script; only workers (LOCAL_WORKER_ID set) run scenarios.
  if (typeof process.env.LOCAL_WORKER_ID === 'undefined') {
    return;
  }
  if (!script.config.processor) {
    script.config.processor = {};
  }
  if (typeof script.config.processor !== 'object') {
    throw new Error('perfmon plugin: config.processor was not loaded as a module');
  }
  open();
  script.config.processor.perfmonAfterResponse = perfmonAfterResponse;
  script.config.processor.perfmonOnError = perfmonOnError;
  for (const scenario of script.scenarios || []) {
    if (!isHttpScenario(scenario, script)) {
      continue;
    }
    // First in line: a user's hook that fails ends the request's hook chain,
    // and the request must be recorded anyway.
    scenario.afterResponse = ['perfmonAfterResponse'].concat(scenario.afterResponse || []);
    scenario.onError = ['perfmonOnError'].concat(scenario.onError || []);
  }
}

PerfmonPlugin.prototype.cleanup = function cleanup(done) {
  if (fd !== null) {
    try {
      fs.closeSync(fd);
    } catch (_err) {
      /* already closed */
    }
    fd = null;
  }
  done();
};

module.exports = {
  Plugin: PerfmonPlugin,
  LEGACY_METRICS_FORMAT: false,
  perfmonAfterResponse,
  perfmonOnError
};
