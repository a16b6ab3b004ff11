#!/usr/bin/env bash
# System packages the test tiers need: PostgreSQL server binaries, headless Chromium,
# a CJK font (the reports' PDFs), poppler-utils (the report test renders PDF pages), and
# Patroni + etcd (the failover example is run). Installs what is missing when running as root (Debian); otherwise it only
# reports, and the tests that need a missing piece skip (or fail under CI=true).
set -u
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qiE 'noto sans cjk|wqy|droid sans fallback' || need+=(fonts-noto-cjk)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v patroni >/dev/null 2>&1 || need+=(patroni)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || echo "warning: could not install ${need[*]}"
else
  echo "missing system packages (install them to run every tier): ${need[*]}"
fi
exit 0
