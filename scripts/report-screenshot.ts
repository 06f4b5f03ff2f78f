// Renders a run's report.html in headless Chromium and saves a full-page screenshot (for the README).
// Usage: npx tsx scripts/report-screenshot.ts learnpipe-demo/out/report.html docs/report-screenshot.png
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [html, png] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(pathToFileURL(path.resolve(html)).href);
await page.screenshot({ path: png, fullPage: true });
await browser.close();
console.log(`wrote ${png}`);
