#!/usr/bin/env bash
# Builds the browser side into target/site: the wasm front end through wasm-bindgen (and wasm-opt
# for release), the stylesheet and the public assets. The same steps cargo-leptos runs, without it.
#
#   scripts/build-site.sh debug     fast, for tests
#   scripts/build-site.sh release   size-optimised (profile wasm-release, wasm-opt -Oz), precompressed
#
# SITE_DIR=target/site-release puts the site elsewhere (the Playwright weight test serves the
# release site from there next to the debug site).
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
  release) cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
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
  wasm-opt -Oz --converge --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$pkg/${name}_bg.wasm" -o "$pkg/${name}_bg.wasm"
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
printf 'site (%s): %s.wasm %d B (gzip %d B), %s.js %d B (gzip %d B), %s.css %d B (gzip %d B)\n' "$profile" \
  "$name" "$(size "$pkg/${name}_bg.wasm")" "$(gz "$pkg/${name}_bg.wasm")" \
  "$name" "$(size "$pkg/$name.js")" "$(gz "$pkg/$name.js")" \
  "$name" "$(size "$pkg/$name.css")" "$(gz "$pkg/$name.css")"
