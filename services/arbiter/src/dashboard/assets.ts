/**
 * The dashboard's static files (index.html, app.js, style.css: no bundler, no
 * CDN, nothing fetched from elsewhere), read from the source tree: tsc compiles
 * only .ts, so the compiled module (dist/services/arbiter/src/dashboard/)
 * reads them from services/arbiter/src/dashboard/ of the same checkout, and a
 * module run from the source reads them beside itself. Read once, at the first
 * request; a checkout without them is a 500 naming the directory looked in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** Where the files are: beside this module (source), or in the source tree of the checkout (dist). */
export function dashboardDir(): string {
  const candidates = [new URL('./', import.meta.url), new URL('../../../../../services/arbiter/src/dashboard/', import.meta.url)].map((u) => fileURLToPath(u));
  return candidates.find((d) => existsSync(`${d}index.html`)) ?? candidates[candidates.length - 1]!;
}

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

let cache: Map<string, Asset> | null = null;

/** The file `name` (one of DASHBOARD_FILES), or undefined for any other name. Throws naming the directory when it is missing. */
export function dashboardAsset(name: string): Asset | undefined {
  const type = DASHBOARD_FILES[name];
  if (type === undefined) return undefined;
  if (cache === null) {
    const dir = dashboardDir();
    const loaded = new Map<string, Asset>();
    for (const [file, t] of Object.entries(DASHBOARD_FILES)) {
      try {
        loaded.set(file, { type: t, body: readFileSync(`${dir}${file}`) });
      } catch (e) {
        throw new Error(`dashboard file ${dir}${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    cache = loaded;
  }
  return cache.get(name);
}
