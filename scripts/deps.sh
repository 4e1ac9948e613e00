#!/usr/bin/env bash
# Installs every Debian package that Sentinel's build, tests and benches need.
# Idempotent and quiet when everything is present. Not root: prints the command.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev sqlite3
  libssl-dev libsodium-dev libpq-dev zlib1g-dev
  libseccomp-dev libarchive-dev
  libopenblas-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libcmocka-dev python3-onnx python3-torch python3-numpy libonnx-testdata
  perl curl jq openssl procps psmisc
  passt iproute2
  chromium fonts-dejavu-core
  postgresql
)
# Benches only: peers and load generators. Installed with `deps.sh --bench`.
BENCH_PKGS=(wrk nginx-light bubblewrap victoria-metrics)

# Coverage only (`make coverage`): gcovr. Installed with `deps.sh --coverage`.
COV_PKGS=(gcovr)

# Fuzzing only (`make fuzz`): clang with libFuzzer. Installed with `deps.sh --fuzz`.
FUZZ_PKGS=(clang libclang-rt-14-dev)

want=("${PKGS[@]}")
# The console's build and tests need Node.js and npm: Debian's, unless the
# machine has them already (from another source).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then want+=(nodejs npm); fi
for a in "$@"; do
  case "$a" in
    --bench) want+=("${BENCH_PKGS[@]}") ;;
    --fuzz) want+=("${FUZZ_PKGS[@]}") ;;
    --coverage) want+=("${COV_PKGS[@]}") ;;
    *) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd=(apt-get install -y -q --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages; run as root:" >&2
  echo "  apt-get update && ${cmd[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when an install is needed (and at most once).
apt-get update -q >/dev/null || true
"${cmd[@]}" >/dev/null
