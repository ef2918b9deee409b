#!/usr/bin/env bash
# Builds the browser side into target/site: the wasm front end through wasm-bindgen (and wasm-opt
# for release), the stylesheet and the public assets. The same steps cargo-leptos runs, without it.
#
#   scripts/build-site.sh debug     fast, for tests
#   scripts/build-site.sh release   size-optimised (profile wasm-release, wasm-opt -Oz), precompressed
#
# SITE_DIR=target/site-release puts the site elsewhere (the Playwright weight test serves the
# release site from there next to the debug site).
#
# Every file under pkg/ is named after a hash of its content, so the server can let browsers keep
# them for a year (`immutable`): `vestibule-<hash>.js` with `vestibule-<hash>_bg.wasm` (one hash
# over both: the JS is the glue wasm-bindgen wrote for that wasm, with the JS snippets Rust
# imports folded in) and `vestibule-<hash>.css`. `assets.txt` at the site's root tells the server
# the names.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
profile="${1:-debug}"
name=vestibule
site="${SITE_DIR:-target/site}"
pkg="$site/pkg"

case "$profile" in
  debug)   cargo build -p frontend --lib --target wasm32-unknown-unknown
           wasm=target/wasm32-unknown-unknown/debug/frontend.wasm ;;
  # Panic locations keep their file paths; without the registry's and this checkout's prefix
  # they are shorter (about a KiB less to send) and say nothing about the build machine.
  release) CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/= --remap-path-prefix=$PWD/=" \
           cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
           wasm=target/wasm32-unknown-unknown/wasm-release/frontend.wasm ;;
  *) echo "usage: $0 debug|release" >&2; exit 2 ;;
esac

rm -rf "$site"
mkdir -p "$pkg"
cp -r public/. "$site/"
wasm-bindgen --target web --no-typescript --out-name "$name" --out-dir "$pkg" "$wasm"
cp style/main.css "$pkg/$name.css"

if [ "$profile" = release ]; then
  # --converge repeats -Oz until it stops shrinking; producers/debug sections are never needed.
  # --low-memory-unused: nothing lives below address 1024 (Rust puts the stack first, 1 MiB of it,
  # so only a stack about to overflow would reach there), which lets loads fold small offsets.
  # --one-caller-inline-max-function-size=15: a function with one caller is inlined only when it
  # is tiny. By default every such function is inlined, which makes the module smaller raw but
  # larger compressed: the copies of Leptos' view code stop looking alike to brotli. Measured on
  # this console (2026-12-04): 111,136 B with brotli by default, 104,689 B with 15 (10: 104,797;
  # 50: 106,473; 300: 109,524).
  wasm-opt -Oz --converge --one-caller-inline-max-function-size=15 --low-memory-unused --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$pkg/${name}_bg.wasm" -o "$pkg/${name}_bg.wasm"
fi

# Content hashes in the file names (16 hex digits of SHA-256: 64 bits, plenty to tell builds apart).
digest() { sha256sum | cut -c1-16; }
# wasm-bindgen puts the JS that Rust imports (frontend/src/webauthn.js) in a module of its own
# under snippets/; one more request on every first load. Each such module (plain functions, no
# imports of its own: anything else stops the build) is folded into the glue instead, as a
# function scope whose exports the glue's `import` lines then read. Comments are left out.
node - "$pkg/$name.js" <<'JS'
const fs = require('fs'), path = require('path');
const glue = process.argv[2], dir = path.dirname(glue);
let text = fs.readFileSync(glue, 'utf8');
const modules = new Map();
text = text.replace(/^import (.+?) from ['"](\.\/snippets\/[^'"]+)['"];?$/gm, (_, what, file) => {
  if (!modules.has(file)) {
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    if (/^\s*import\b/m.test(source) || /^export (?!(async )?function )/m.test(source)) {
      throw new Error(`${file}: only modules of exported functions can be folded in`);
    }
    const names = [...source.matchAll(/^export (?:async )?function (\w+)/gm)].map((m) => m[1]);
    const id = `__snippet${modules.size}`;
    modules.set(file, id);
    // Lines that are only comments are dropped: the browser never needs them.
    const body = source.replace(/^export (?=(async )?function )/gm, '').replace(/^[ \t]*\/\/.*\n/gm, '');
    what = `const ${id} = (() => {\n${body}\nreturn { ${names.join(', ')} };\n})();\n` +
      (what.startsWith('* as ') ? `const ${what.slice(5)} = ${id};` : `const ${what} = ${id};`);
    return what;
  }
  const id = modules.get(file);
  return what.startsWith('* as ') ? `const ${what.slice(5)} = ${id};` : `const ${what} = ${id};`;
});
// The glue's doc comments and comment lines are for readers of the source, not for browsers.
text = text.replace(/^[ \t]*\/\*\*[\s\S]*?\*\/[ \t]*\n/gm, '').replace(/^[ \t]*\/\/.*\n/gm, '');
fs.writeFileSync(glue, text);
JS
rm -rf "$pkg/snippets"
stem="$name-$(cat "$pkg/$name.js" "$pkg/${name}_bg.wasm" | digest)"
css="$name-$(digest < "$pkg/$name.css").css"
mv "$pkg/$name.js" "$pkg/$stem.js"
mv "$pkg/${name}_bg.wasm" "$pkg/${stem}_bg.wasm"
mv "$pkg/$name.css" "$pkg/$css"
printf 'stem %s\ncss %s\n' "$stem" "$css" > "$site/assets.txt"

if [ "$profile" = release ]; then
  # Precompressed copies; the server sends brotli or gzip, whichever the browser accepts (brotli
  # from Node's zlib at quality 11: no brotli tool needed).
  for f in "$pkg"/*.wasm "$pkg"/*.js "$pkg"/*.css; do
    gzip -9 -k -f "$f"
    node -e 'const z=require("zlib"),fs=require("fs"),f=process.argv[1];
      fs.writeFileSync(f+".br",z.brotliCompressSync(fs.readFileSync(f),{params:{
        [z.constants.BROTLI_PARAM_QUALITY]:11,[z.constants.BROTLI_PARAM_SIZE_HINT]:fs.statSync(f).size}}))' "$f"
  done
fi

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
printf 'site (%s): %s %d B (gzip %d B), %s %d B (gzip %d B), %s %d B (gzip %d B)\n' "$profile" \
  "${stem}_bg.wasm" "$(size "$pkg/${stem}_bg.wasm")" "$(gz "$pkg/${stem}_bg.wasm")" \
  "$stem.js" "$(size "$pkg/$stem.js")" "$(gz "$pkg/$stem.js")" \
  "$css" "$(size "$pkg/$css")" "$(gz "$pkg/$css")"
