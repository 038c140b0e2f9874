#!/bin/sh
# The image's entrypoint: runs `twine "$@"`. Before `twine start`, makes
# /proc/sys/net writable when Docker mounted /proc/sys read-only (it does in
# every container that is not privileged): Twine writes the net.* sysctls of
# the namespaces it enters (ip_forward, route_localnet) there. It binds
# sys/net of a fresh procfs over /proc/sys/net, so that only this subtree
# becomes writable and the rest of /proc keeps Docker's read-only and masked
# paths. `--security-opt systempaths=unconfined` would unmask all of them, and
# compose cannot pass it (the docker CLI translates it; the engine refuses it
# as sent by compose). Needs CAP_SYS_ADMIN, which Twine needs anyway (setns),
# and an AppArmor profile that allows mount (apparmor=unconfined). When it
# cannot, Twine starts anyway and names each sysctl it could not write.
set -u
ro_sys() { awk '$2 == "/proc/sys" && $4 ~ /(^|,)ro(,|$)/ { ro = 1 } END { exit !ro }' /proc/mounts; }
if [ "${1:-}" = start ] && ro_sys; then
  dir=$(mktemp -d /tmp/twine-proc.XXXXXX)
  if mount -t proc proc "$dir" 2>/dev/null && mount --bind "$dir/sys/net" /proc/sys/net 2>/dev/null; then
    :
  else
    echo "twine-entrypoint: /proc/sys/net is read-only and could not be remounted writable (needs CAP_SYS_ADMIN and no AppArmor confinement); setting net.* sysctls in containers will fail" >&2
  fi
  umount -l "$dir" 2>/dev/null
  rmdir "$dir" 2>/dev/null
fi
exec twine "$@"
