#!/usr/bin/env bash
# The alert rules, their unit tests, the Prometheus configuration and the Grafana dashboard's
# expressions, checked without a running Prometheus (the live checks are tests/monitoring's other
# scripts):
#   1. promtool check rules     deploy/prometheus/rules/*.rules.yml
#   2. promtool test rules      deploy/prometheus/tests/*.test.yml
#   3. promtool check config    the template rendered by deploy/prometheus/render-config.sh, with
#                               a targets file in the documented format; a malformed one must fail
#   4. coverage                 every alert has a test where it fires and one where it does not;
#                               severity critical|warning; summary, description, and a runbook
#                               docs/MONITORING.md#<alert> with a section in ALERTS.md
#   5. the tests can fail       each alert replaced by one that always fires, one that never fires
#                               and (with a for:) one without its for: must fail its tests
#   6. the dashboard            every expression deploy/grafana/exprs.sh prints parses as PromQL
#                               (promtool check rules on them as recording rules); the sale
#                               variable and the rows the issue asks for are there
#
# Usage: tests/monitoring/test_rules.sh
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors

say() { printf '[rules] %s\n' "$*" >&2; }
fail() {
  say "FAIL: $*"
  exit 1
}

fs_require_commands promtool python3 jq
python3 -c 'import yaml' 2>/dev/null || fail "python3 cannot import yaml (Debian python3-yaml)"

prom="$FS_ROOT/deploy/prometheus"
grafana="$FS_ROOT/deploy/grafana"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
rules=("$prom"/rules/*.rules.yml)
tests=("$prom"/tests/*.test.yml)
shopt -u nullglob
((${#rules[@]})) || fail "no rules in $prom/rules"
((${#tests[@]})) || fail "no tests in $prom/tests"

# ---- 1, 2 ----------------------------------------------------------------------------------
say "promtool check rules"
promtool check rules "${rules[@]}" >&2 || fail "promtool check rules"
say "promtool test rules"
(cd "$prom/tests" && promtool test rules "${tests[@]}") >&2 || fail "promtool test rules"

# ---- 3 -------------------------------------------------------------------------------------
say "promtool check config"
"$prom/render-config.sh" "$work/prometheus/targets.json" "$work/prometheus/prometheus.yml"
cat >"$work/prometheus/targets.json" <<'EOF'
[
  {"targets": ["127.0.0.1:41001"],
   "labels": {"job": "flashsale", "process": "flashsale-server", "roles": "api,admin"}},
  {"targets": ["127.0.0.1:41002"],
   "labels": {"job": "flashsale", "process": "flashsale-worker", "roles": "worker"}}
]
EOF
promtool check config "$work/prometheus/prometheus.yml" >&2 || fail "promtool check config"
grep -q 'scrape_interval: 2s' "$work/prometheus/prometheus.yml" || fail "rendered config is not at 2s"
# The check reads the targets file: one with a label name Prometheus refuses must fail it.
sed 's/"process"/"process-name"/' "$work/prometheus/targets.json" >"$work/prometheus/bad.json"
mv "$work/prometheus/bad.json" "$work/prometheus/targets.json"
if promtool check config "$work/prometheus/prometheus.yml" >/dev/null 2>&1; then
  fail "promtool check config accepted a targets file with an invalid label name"
fi
# A malformed interval is refused by the renderer.
if "$prom/render-config.sh" "$work/t.json" "$work/x.yml" 2 2>/dev/null; then
  fail "render-config.sh accepted the interval '2' (no unit)"
fi

# ---- 4, 5 ----------------------------------------------------------------------------------
# The Python part reads the rules and tests (PyYAML), checks the coverage and annotations, and
# writes the mutants for step 5: $work/mut/<n>/{rules/...,tests/<alert>.test.yml,what}.
say "coverage of every alert by the unit tests"
python3 - "$work/mut" "$prom/ALERTS.md" "${#rules[@]}" "${rules[@]}" "${tests[@]}" <<'PY' || fail "coverage"
import copy, os, re, sys, yaml

mut_dir, alerts_md, nrules = sys.argv[1], sys.argv[2], int(sys.argv[3])
rule_files = sys.argv[4:4 + nrules]
test_files = sys.argv[4 + nrules:]
problems = []

alerts = {}  # name -> (rule file, group index, rule index)
docs = {}
for f in rule_files:
    doc = yaml.safe_load(open(f))
    docs[f] = doc
    for gi, g in enumerate(doc["groups"]):
        for ri, r in enumerate(g["rules"]):
            if "alert" not in r:
                continue
            name = r["alert"]
            if name in alerts:
                problems.append(f"{name}: defined twice")
            alerts[name] = (f, gi, ri)
            sev = r.get("labels", {}).get("severity")
            if sev not in ("critical", "warning"):
                problems.append(f"{name}: severity {sev!r}, not critical or warning")
            ann = r.get("annotations", {})
            for a in ("summary", "description", "runbook"):
                if not ann.get(a):
                    problems.append(f"{name}: no {a} annotation")
            want = f"docs/MONITORING.md#{name.lower()}"
            if ann.get("runbook") != want:
                problems.append(f"{name}: runbook {ann.get('runbook')!r}, expected {want!r}")
            if re.search(r"by \([^)]*\bsale\b", r["expr"]) and "$labels.sale" not in ann.get("description", ""):
                problems.append(f"{name}: aggregates by sale but the description does not name it")
            # A shared gauge counted once per reporting process would be multiplied by their number.
            if re.search(r"\bsum\b[^()]*\([^()]*flashsale_(sale_|stream_|outbox_|redis_memory|postgres_up|reconcile_drift)", r["expr"]):
                problems.append(f"{name}: sums a shared gauge (use max)")

md = open(alerts_md).read() if os.path.exists(alerts_md) else ""
for name in alerts:
    if not re.search(rf"^## {name}\s*$", md, re.M):
        problems.append(f"{name}: no '## {name}' section in {os.path.basename(alerts_md)}")

firing = {n: 0 for n in alerts}
quiet = {n: 0 for n in alerts}
tests_of = {n: [] for n in alerts}  # (test file, test) pairs that evaluate the alert
test_docs = {}
for f in test_files:
    doc = yaml.safe_load(open(f))
    test_docs[f] = doc
    for t in doc.get("tests", []):
        seen = set()
        for case in t.get("alert_rule_test", []) or []:
            name = case["alertname"]
            if name not in alerts:
                problems.append(f"{os.path.basename(f)}: test {t.get('name')!r} names unknown alert {name}")
                continue
            if case.get("exp_alerts"):
                firing[name] += 1
            else:
                quiet[name] += 1
            if name not in seen:
                tests_of[name].append((f, t))
                seen.add(name)
for name in alerts:
    print(f"  {name}: {firing[name]} firing, {quiet[name]} quiet evaluation(s)", file=sys.stderr)
    if not firing[name]:
        problems.append(f"{name}: no test where it fires")
    if not quiet[name]:
        problems.append(f"{name}: no test where it stays quiet")

if problems:
    print("\n".join("  " + p for p in problems), file=sys.stderr)
    sys.exit(1)

# Mutants: the same rule files with one alert changed, and only that alert's tests.
n = 0
for name, (f, gi, ri) in alerts.items():
    rule = docs[f]["groups"][gi]["rules"][ri]
    variants = [("always fires", {"expr": "vector(1)"}, []),
                ("never fires", {"expr": "vector(1) < 0"}, [])]
    if "for" in rule:
        variants.append(("has no for:", {}, ["for"]))
    for what, set_, drop in variants:
        n += 1
        d = os.path.join(mut_dir, str(n))
        os.makedirs(os.path.join(d, "rules"))
        os.makedirs(os.path.join(d, "tests"))
        for rf in rule_files:
            m = copy.deepcopy(docs[rf])
            if rf == f:
                r = m["groups"][gi]["rules"][ri]
                r.update(set_)
                for k in drop:
                    del r[k]
            yaml.safe_dump(m, open(os.path.join(d, "rules", os.path.basename(rf)), "w"), sort_keys=False)
        for tf in test_files:
            ts = [copy.deepcopy(t) for (ff, t) in tests_of[name] if ff == tf]
            if not ts:
                continue
            td = copy.deepcopy(test_docs[tf])
            td["rule_files"] = [os.path.join("..", "rules", os.path.basename(rf)) for rf in rule_files]
            td["tests"] = ts
            yaml.safe_dump(td, open(os.path.join(d, "tests", os.path.basename(tf)), "w"), sort_keys=False)
        open(os.path.join(d, "what"), "w").write(f"{name} {what}\n")
PY

say "each alert's tests catch an alert that always fires, never fires, or lost its for:"
killed=0 survived=()
for d in "$work"/mut/*/; do
  what=$(<"$d/what")
  if (cd "$d/tests" && promtool test rules ./*.test.yml) >/dev/null 2>&1; then
    survived+=("$what")
  else
    killed=$((killed + 1))
  fi
done
((${#survived[@]} == 0)) || fail "the unit tests still pass when: $(printf '%s; ' "${survived[@]}")"
say "all $killed mutants fail their tests"

# ---- 6 -------------------------------------------------------------------------------------
say "the dashboard's expressions parse"
dashboard="$grafana/dashboards/flashsale.json"
jq -e . "$dashboard" >/dev/null || fail "$dashboard is not JSON"
"$grafana/exprs.sh" >"$work/exprs.txt" || fail "exprs.sh"
python3 - "$work/exprs.txt" "$work/exprs.rules.yml" <<'PY'
import sys, yaml
exprs = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
rules = [{"record": f"dashboard:expr:{i}", "expr": e} for i, e in enumerate(exprs)]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
PY
if ! promtool check rules "$work/exprs.rules.yml" >"$work/exprs.out" 2>&1; then
  cat "$work/exprs.out" >&2
  fail "an expression of the dashboard does not parse (line numbers: deploy/grafana/exprs.sh)"
fi
say "$(wc -l <"$work/exprs.txt") expressions parse"
# Grafana's variables must all have been substituted.
if grep -n '\$' "$work/exprs.txt" >&2; then
  fail "exprs.sh left a Grafana variable in the lines above"
fi
jq -e '.templating.list[] | select(.name == "sale")
       | select((.query.query // .query) | test("label_values\\(flashsale_sale_stock_remaining, *sale\\)"))' \
  "$dashboard" >/dev/null || fail "no sale variable from label_values(flashsale_sale_stock_remaining, sale)"
for row in "Stock and conservation" "Requests and latency" "Lags" "Processes" "Payments"; do
  jq -e --arg r "$row" '[.panels[] | select(.type == "row" and .title == $r)] | length == 1' \
    "$dashboard" >/dev/null || fail "the dashboard has no row '$row'"
done
for metric in flashsale_sale_units flashsale_sale_conservation_gap flashsale_booking_duration_seconds \
  flashsale_stream_lag flashsale_outbox_oldest_unpublished_seconds flashsale_kafka_consumer_lag \
  process_resident_memory_bytes process_open_fds flashsale_event_loop_lag_seconds \
  flashsale_build_info flashsale_payments_total; do
  grep -q "$metric" "$work/exprs.txt" "${rules[@]}" || fail "the dashboard does not plot $metric"
done
# Every query goes to the data source variable (or the provisioned uid).
jq -e '[.. | objects | select(has("datasource")) | .datasource
        | select(type == "object") | .uid | select(. != "${DS_PROMETHEUS}" and . != "prometheus")]
       | length == 0' "$dashboard" >/dev/null || fail "a panel names another data source"

say "PASS"
