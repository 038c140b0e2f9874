#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to run Twine and its test suite:
# installs what is missing, and starts dockerd in the background when no
# engine answers on /var/run/docker.sock. Idempotent: on a prepared machine it
# installs nothing and starts nothing.
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts dockerd)"

# package → a command or file that proves it is installed (dpkg -s is the fallback check).
declare -A PROVIDES=(
  [docker.io]=dockerd
  [nftables]=nft
  [iptables]=iptables
  [busybox-static]=/bin/busybox
  [iproute2]=ip
  [util-linux]=nsenter
  [docker-compose]=docker-compose
  [libnftables-dev]=/usr/include/nftables/libnftables.h
  [python3]=python3
  [socat]=socat
  [g++]=g++
  [make]=make
  [openssl]=openssl
  # The dashboard's browser test (test/e2e/dashboard.test.ts).
  [chromium]=/usr/bin/chromium
)

installed() {
  local pkg=$1 probe=${PROVIDES[$1]}
  if [[ $probe == /* ]]; then [ -e "$probe" ] && return 0; else command -v "$probe" >/dev/null 2>&1 && return 0; fi
  dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'
}

missing=()
for pkg in "${!PROVIDES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
  log "all packages present"
fi

command -v node >/dev/null 2>&1 || die "Node.js 20+ is required (node not found)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "Node.js 20+ is required (found $(node --version))"

SOCK=/var/run/docker.sock
engine_up() {
  [ -S "$SOCK" ] && curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1
}
if ! command -v curl >/dev/null 2>&1; then
  # No curl: ask the docker client instead.
  engine_up() { [ -S "$SOCK" ] && docker -H "unix://$SOCK" version >/dev/null 2>&1; }
fi

if engine_up; then
  log "docker engine answers on $SOCK"
else
  LOGFILE=/var/log/twine-dockerd.log
  touch "$LOGFILE" 2>/dev/null || LOGFILE=/tmp/twine-dockerd.log
  if command -v pgrep >/dev/null 2>&1 && pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
  else
    log "starting dockerd in the background (log: $LOGFILE)"
    nohup dockerd >>"$LOGFILE" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    engine_up && break
    sleep 0.5
  done
  engine_up || { tail -n 20 "$LOGFILE" >&2 || true; die "no docker engine on $SOCK after 60 s (see $LOGFILE)"; }
  log "docker engine answers on $SOCK"
fi

# The tests run `docker`: every docker client on PATH (/usr/local/bin/docker may shadow
# /usr/bin/docker) must be able to talk to this engine; it is checked, and named only when it cannot.
for c in $(for d in $(type -ap docker); do readlink -f "$d"; done | awk '!seen[$0]++'); do
  v=$("$c" version --format '{{.Client.Version}} -> {{.Server.Version}}' 2>&1) \
    || die "the docker client $c cannot talk to the engine on $SOCK (the tests use it): $v"
done
