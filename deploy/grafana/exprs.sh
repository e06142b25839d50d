#!/usr/bin/env bash
# Prints every PromQL expression of a Grafana dashboard, one per line, as an instant query that
# `promtool query instant` (or Prometheus's /api/v1/query) accepts: Grafana's variables replaced
#   $sale, ${sale}, [[sale]]                  ->  .*   (every sale; the panels use sale=~"$sale")
#   $__rate_interval, $__interval, $__range   ->  1m
# and the `sale` variable's query label_values(METRIC, LABEL) printed as group by (LABEL) (METRIC).
# Panel targets come first, in the dashboard's order, then the variables' queries.
#
# Usage: deploy/grafana/exprs.sh [--titles] [DASHBOARD]
#   DASHBOARD  default: deploy/grafana/dashboards/flashsale.json next to this script
#   --titles   prefix each line with the panel's title and a TAB (for messages)
# Fails when the file is not JSON or holds no expression.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
titles=0
if [[ "${1:-}" == --titles ]]; then
  titles=1
  shift
fi
dashboard=${1:-$here/dashboards/flashsale.json}

# Panels may sit in collapsed rows (.panels[].panels[]): walk every object with targets.
out=$(jq -r --argjson titles "$titles" '
  def subst: gsub("\\$\\{sale\\}|\\[\\[sale\\]\\]|\\$sale"; ".*")
             | gsub("\\$__rate_interval|\\$__interval|\\$__range"; "1m")
             | gsub("\\s*\\n\\s*"; " ");
  ( [.. | objects | select(has("targets")) | . as $p | $p.targets[]? | select(.expr != null)
      | {title: ($p.title // ""), expr: .expr}]
    + [.templating.list[]? | select(.type == "query")
      | (.query | if type == "object" then .query else . end) as $q
      | ($q | capture("^\\s*label_values\\((?<m>.+),\\s*(?<l>[a-zA-Z_][a-zA-Z0-9_]*)\\)\\s*$")) as $c
      | {title: ("variable " + .name), expr: ("group by (" + $c.l + ") (" + $c.m + ")")}] )
  | .[] | (if $titles == 1 then .title + "\t" else "" end) + (.expr | subst)
' "$dashboard")
if [[ -z "$out" ]]; then
  echo "$0: no PromQL expression in $dashboard" >&2
  exit 1
fi
printf '%s\n' "$out"
