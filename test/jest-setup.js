// tfjs-backend-cpu greets each new cpu backend with "Hi, looks like you are
// running TensorFlow.js in Node.js ..." (a console.warn): once per test file,
// dozens of times a run, burying real failures. The tests pick their backends
// on purpose, so that one message is dropped; every other warning still shows.
const TFJS_NODE_BANNER = 'Hi, looks like you are running TensorFlow.js in Node.js';
const warn = console.warn;
console.warn = function warnUnlessTfjsBanner(...args) {
  if (args.some((a) => typeof a === 'string' && a.includes(TFJS_NODE_BANNER))) return;
  warn.apply(this, args);
};

// `lip verify` / `lip bound` cache bounds under the user's cache folder; tests
// (and the CLIs they spawn, which inherit the environment) use one of their own.
if (!process.env.LIP_CACHE_DIR) {
  process.env.LIP_CACHE_DIR = require('path').join(require('os').tmpdir(), 'lip-jest-cache');
}

// Tests give the environment they test explicitly (progress bars on a fake
// terminal, `CI` cases in progress.test.ts); a CI runner's own $CI would turn
// every terminal case into plain lines. Children spawned by tests are not on a
// terminal, so they print lines either way.
delete process.env.CI;
