/**
 * A real headless Chromium for tests (Debian's `chromium`, driven by playwright-core). Where it is missing
 * the browser suites must not pass in silence: under CI=true that fails; elsewhere they are skipped loudly.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { ROOT } from './cli.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots and other files a test keeps for people to look at (not compared). */
export const ARTIFACTS = join(ROOT, 'test', 'artifacts');

export function canRunBrowserTests(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true')
    throw new Error(`CI=true and ${CHROMIUM} is missing (apt-get install chromium): refusing to skip`);
  console.warn(`\n*** SKIPPING browser tests: ${CHROMIUM} is missing ***\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  // Root has no user namespace sandbox here; the page is our own, served on loopback.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
