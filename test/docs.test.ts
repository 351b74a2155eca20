/**
 * The docs stand alone and stay true to the code: every error code is in the README's table
 * (and nothing else is), and no document links outside the repository.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../src/index.js';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const docs = readdirSync(new URL('docs/', root))
  .filter((name) => name.endsWith('.md'))
  .map((name) => ({ name: `docs/${name}`, text: readFileSync(new URL(`docs/${name}`, root), 'utf8') }));

describe('the docs', () => {
  it('list every error code in the README table, and no code that does not exist', () => {
    const section = readme.slice(readme.indexOf('## Error codes'));
    const tabled = [...section.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((match) => match[1]);
    assert.deepEqual([...tabled].sort(), Object.values(ErrorCode).sort());
  });

  it('never link outside the repository (a clone has no ../shared), and only to files that exist', () => {
    const top = fileURLToPath(root);
    for (const { name, text } of [{ name: 'README.md', text: readme }, ...docs]) {
      assert.doesNotMatch(text, /\.\.\/shared/, `${name} names ../shared`);
      const base = new URL(name.includes('/') ? 'docs/' : './', root);
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const path = fileURLToPath(new URL(target!, base));
        assert.ok(path.startsWith(top), `${name} links to ${target}, outside the repository`);
        assert.ok(existsSync(path), `${name} links to ${target}, which is missing`);
      }
    }
  });
});
