#!/usr/bin/env bash
# Installs the Debian packages that the tests drive for real (chromium for the drop page, dbus for awake,
# postgresql and haproxy for the drop cluster;
# with --bench also stress-ng for the paint benchmark),
# when they are missing. As root it uses apt-get; otherwise it says which command to run.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # the drop TLS tests make a certificate
# the drop cluster (make cluster and its tests): PostgreSQL for the ledger, haproxy in front of the nodes
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ "${1:-}" = "--bench" ]; then  # the peers the benchmarks measure against
  command -v stress-ng >/dev/null 2>&1 || need+=(stress-ng)
fi
[ ${#need[@]} -eq 0 ] && exit 0
pkgs=()
for n in "${need[@]}"; do
  case "$n" in
    dbus-daemon) pkgs+=(dbus-daemon) ;;
    *) pkgs+=("$n") ;;
  esac
done
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
else
  echo "missing: ${need[*]}. Install them with:  sudo apt-get install ${pkgs[*]}" >&2
  exit 1
fi
