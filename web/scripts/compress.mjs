// Writes NAME.gz and NAME.br beside every compressible file of a build, so
// that the server sends precompressed bytes and never compresses at request
// time. A compressed copy that is not smaller is not kept.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = process.argv[2] ?? 'dist';
const compressible = /\.(js|mjs|css|html|svg|json|txt|map|ttf|wasm)$/;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (compressible.test(name)) squeeze(p);
  }
}

function squeeze(p) {
  const raw = readFileSync(p);
  if (raw.length < 512) return;
  const gz = gzipSync(raw, { level: 9 });
  const br = brotliCompressSync(raw, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
  });
  if (gz.length < raw.length) writeFileSync(p + '.gz', gz);
  if (br.length < raw.length) writeFileSync(p + '.br', br);
}

walk(root);
