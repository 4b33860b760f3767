/**
 * A real browser for the tests: Debian's Chromium (`apt-get install chromium`)
 * driven by playwright-core, which never downloads a browser. Each launch
 * gets a fresh profile folder, removed on close. Tests skip, with a message,
 * only when /usr/bin/chromium is missing (CI installs it: .ci/run).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT } from './files';
import { makeTmpDir, removeDir } from './tmp';

export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests are skipped here, or null when Chromium is installed. */
export function browserMissing(): string | null {
  return fs.existsSync(CHROMIUM) ? null : `skipped: ${CHROMIUM} is missing (Debian: apt-get install chromium)`;
}

export interface Browser {
  page: Page;
  /** Errors the page threw or logged with console.error. */
  errors: string[];
  close(): Promise<void>;
}

/** Chromium headless, no GPU, no network beyond the page's own server. */
export async function launchChromium(): Promise<Browser> {
  // Required lazily: test files that skip never load playwright.
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const profile = makeTmpDir('chromium');
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (err) {
    removeDir(profile);
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/No available adapters/.test(m.text())) errors.push(m.text());
  });
  return {
    page,
    errors,
    close: async () => {
      await context.close();
      removeDir(profile);
    },
  };
}

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/** examples/browser/serve.js in this process (it bundles @lip/runtime's dist: build first). */
export async function startDemoServer(opts: { model: string; data?: string | null; n?: number; files?: Record<string, string> }): Promise<DemoServer> {
  const serve = require(path.join(ROOT, 'examples', 'browser', 'serve.js')) as {
    startServer(o: Record<string, unknown>): Promise<DemoServer>;
  };
  const outdir = makeTmpDir('page');
  const server = await serve.startServer({ ...opts, port: 0, outdir });
  return {
    url: server.url,
    close: async () => {
      await server.close();
      removeDir(outdir);
    },
  };
}

/** Where tests leave files for people to look at (screenshots): $LIP_TEST_OUTPUT, else <tmp>/lip-test-output. */
export function testOutputDir(): string {
  const dir = process.env.LIP_TEST_OUTPUT ?? path.join(os.tmpdir(), 'lip-test-output');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
