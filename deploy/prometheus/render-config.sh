#!/usr/bin/env bash
# Renders deploy/prometheus/prometheus.yml.template (its header documents the placeholders and the
# targets file's format).
#
# Usage: deploy/prometheus/render-config.sh TARGETS_FILE OUT [INTERVAL]
#   TARGETS_FILE  the file_sd targets file Prometheus watches (need not exist yet)
#   OUT           the configuration to write (its directory is created)
#   INTERVAL      scrape and evaluation interval, a Prometheus duration; default 2s
# Fails (status 2) on a missing argument or a malformed interval.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
if (($# < 2)); then
  echo "usage: $0 TARGETS_FILE OUT [INTERVAL]" >&2
  exit 2
fi
targets=$1 out=$2 interval=${3:-2s}
if [[ ! "$interval" =~ ^[0-9]+(ms|s|m)$ ]]; then
  echo "$0: interval '$interval' is not a duration such as 2s or 15s" >&2
  exit 2
fi
# Prometheus resolves relative paths against the configuration's directory: make them absolute.
[[ "$targets" == /* ]] || targets="$PWD/$targets"
mkdir -p "$(dirname "$out")"
sed -e "s|@FS_RULES_DIR@|$here/rules|g" \
  -e "s|@FS_TARGETS_FILE@|$targets|g" \
  -e "s|@FS_SCRAPE_INTERVAL@|$interval|g" \
  "$here/prometheus.yml.template" >"$out.tmp"
mv "$out.tmp" "$out"
