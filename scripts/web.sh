#!/usr/bin/env bash
# The web console's build and tests, called by make.
#   web.sh build   npm ci when the lock file changed, then vite build into
#                  web/dist (with .gz and .br copies); without Node.js it says
#                  so and succeeds: the server then runs its API alone and
#                  says at / how to build the console.
#   web.sh test    tsc --noEmit, ESLint, Vitest, then the end-to-end suite
#                  (playwright-core driving Debian's chromium against a real
#                  `sentinel up`), TAP on stdout. Needs Node.js and chromium.
set -euo pipefail
cd "$(dirname "$0")/../web"

have_node() { command -v node >/dev/null && command -v npm >/dev/null; }

install() {
	# node_modules/.stamp records the lock file it was installed from.
	if [ ! -f node_modules/.stamp ] || ! cmp -s package-lock.json node_modules/.stamp; then
		npm ci --no-audit --no-fund --loglevel=error
		cp package-lock.json node_modules/.stamp
	fi
}

case "${1:-}" in
build)
	if ! have_node; then
		echo "web.sh: no Node.js: the console is not built (run: bash scripts/deps.sh)" >&2
		exit 0
	fi
	install
	rm -rf dist.new
	npx vite build --logLevel warn --outDir dist.new --emptyOutDir
	node scripts/compress.mjs dist.new
	# Swapped whole, so that a running server never serves half a build.
	rm -rf dist.old
	[ -d dist ] && mv dist dist.old
	mv dist.new dist
	rm -rf dist.old
	;;
test)
	have_node || { echo "web.sh: the console's tests need Node.js (bash scripts/deps.sh)" >&2; exit 1; }
	install
	echo "# web: tsc --noEmit"
	npx tsc --noEmit -p .
	echo "# web: eslint"
	npx eslint --max-warnings 0 src test e2e scripts
	echo "# web: vitest"
	npx vitest run --reporter=dot
	echo "# web: end-to-end (chromium)"
	node --test --test-concurrency=1 --test-reporter=tap e2e/
	;;
*)
	echo "usage: web.sh build|test" >&2
	exit 2
	;;
esac
