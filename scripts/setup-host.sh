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
  [curl]=curl
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

# The engine: Docker 28.5 (what users run) by default, or Debian 12's 20.10 with TWINE_ENGINE=20.10.
ENGINE=${TWINE_ENGINE:-28.5}
SOCK=/var/run/docker.sock
ENGINES=/var/lib/twine-engines

# Docker 28.5 is Debian's docker.io and containerd from suite sid. They are not installed: apt
# fetches the two .debs through a sources list and package lists of their own (under $ENGINES/apt,
# so the machine's own sources never name sid and no later `apt-get install` can upgrade libc from
# it), and they are unpacked into a prefix of their own. Their dockerd, containerd and shim run on
# Debian 12's libc with Debian 12's runc; nothing else on the machine changes.
D28_VERSION=28.5.2+dfsg4-5
CONTAINERD28_VERSION=2.1.9+ds1-5
PREFIX28=/opt/twine-engines/docker-$D28_VERSION

fetch_engine28() {
  [ -x "$PREFIX28/usr/sbin/dockerd" ] && [ -x "$PREFIX28/usr/bin/containerd" ] && return 0
  local apt=$ENGINES/apt
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/sources" "$apt/debs"
  cat >"$apt/sources/sid.sources" <<'EOS'
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
  local o=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources" -o "Dir::State::Lists=$apt/lists"
           -o "Dir::Cache::Archives=$apt/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
           -o "Dir::State::status=/dev/null" -o "APT::Sandbox::User=root")
  log "fetching docker.io $D28_VERSION and containerd $CONTAINERD28_VERSION (Debian sid) into $PREFIX28"
  apt-get "${o[@]}" update -qq
  (cd "$apt/debs" && apt-get "${o[@]}" download -qq "docker.io=$D28_VERSION" "containerd=$CONTAINERD28_VERSION") \
    || die "cannot download docker.io $D28_VERSION / containerd $CONTAINERD28_VERSION from Debian sid"
  rm -rf "$PREFIX28.tmp" && mkdir -p "$PREFIX28.tmp"
  for deb in "$apt/debs/docker.io_${D28_VERSION}_"*.deb "$apt/debs/containerd_${CONTAINERD28_VERSION}_"*.deb; do
    dpkg-deb -x "$deb" "$PREFIX28.tmp"
  done
  rm -rf "$PREFIX28" && mv "$PREFIX28.tmp" "$PREFIX28"
}

# dockerd, the PATH it runs with (its containerd, shim and docker-proxy come from there) and its data root.
case "$ENGINE" in
  28.5)
    fetch_engine28
    DOCKERD=$PREFIX28/usr/sbin/dockerd
    ENGINE_PATH=$PREFIX28/usr/bin:$PREFIX28/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    DATA_ROOT=/var/lib/docker
    EXEC_ROOT=/var/run/docker
    ;;
  20.10)
    DOCKERD=/usr/sbin/dockerd
    ENGINE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    DATA_ROOT=$ENGINES/docker-20.10
    EXEC_ROOT=/var/run/twine-docker-20.10
    ;;
  *) die "TWINE_ENGINE=$ENGINE: expected 28.5 or 20.10" ;;
esac
WANT_VERSION=$("$DOCKERD" --version | sed -E 's/^Docker version ([0-9.]+).*/\1/')

engine_version() {
  { [ -S "$SOCK" ] && curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/version 2>/dev/null; } \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Version"].split("+")[0])' 2>/dev/null
}

# Stops the engine on $SOCK (and the containerd it started), then removes the iptables chains it
# left, so that the next engine starts on a host firewall of its own making.
stop_engine() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
  if [ -n "$pid" ]; then
    log "stopping dockerd (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { kill -9 "$pid" 2>/dev/null || true; sleep 1; }
  fi
  rm -f "$SOCK" /var/run/docker.pid
  local ipt t rule chain
  # Before pipefail reads a grep that found nothing as a failure.
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for t in filter nat; do
      "$ipt" -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) .*-j DOCKER' | while read -r rule; do
        eval "\"$ipt\" -t $t ${rule/-A/-D}" 2>/dev/null || true
      done || true
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
        "$ipt" -t "$t" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
        "$ipt" -t "$t" -X "$chain" 2>/dev/null || true
      done
    done
    # Docker 28 also sets ip6tables' FORWARD policy to DROP; 20.10 never touches ip6tables, and with
    # br_netfilter that policy would drop the IPv6 its containers exchange over their bridge.
    "$ipt" -P FORWARD ACCEPT 2>/dev/null || true
  done
  ip link del docker0 2>/dev/null || true
}

running=$(engine_version || true)
if [ -n "$running" ] && [ "$running" != "$WANT_VERSION" ]; then
  log "the engine on $SOCK is Docker $running; TWINE_ENGINE=$ENGINE asks for $WANT_VERSION"
  stop_engine
  running=
fi

if [ -n "$running" ]; then
  log "Docker $running answers on $SOCK"
else
  LOGFILE=/var/log/twine-dockerd.log
  touch "$LOGFILE" 2>/dev/null || LOGFILE=/tmp/twine-dockerd.log
  if pgrep -x dockerd >/dev/null 2>&1 && ! [ -S "$SOCK" ]; then
    # A dockerd that is not the one wanted, or not answering: start afresh.
    stop_engine
  fi
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
  log "starting Docker $WANT_VERSION ($DOCKERD, data root $DATA_ROOT) in the background (log: $LOGFILE)"
  PATH=$ENGINE_PATH nohup "$DOCKERD" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile /var/run/docker.pid \
    -H "unix://$SOCK" >>"$LOGFILE" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    running=$(engine_version || true)
    [ -n "$running" ] && break
    sleep 0.5
  done
  [ -n "$running" ] || { tail -n 20 "$LOGFILE" >&2 || true; die "no docker engine on $SOCK after 60 s (see $LOGFILE)"; }
  log "started Docker $running on $SOCK"
fi
api=$(curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/version | python3 -c 'import json,sys; print(json.load(sys.stdin)["ApiVersion"])')
echo "setup-host: engine: Docker $running (API $api) on $SOCK" >&2

# The tests run `docker`: every docker client on PATH (/usr/local/bin/docker may shadow
# /usr/bin/docker) must be able to talk to this engine; it is checked, and named only when it cannot.
for c in $(for d in $(type -ap docker); do readlink -f "$d"; done | awk '!seen[$0]++'); do
  v=$("$c" version --format '{{.Client.Version}} -> {{.Server.Version}}' 2>&1) \
    || die "the docker client $c cannot talk to the engine on $SOCK (the tests use it): $v"
done
