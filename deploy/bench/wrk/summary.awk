# summary.awk: wrk --latency output -> "req_per_s p50_ms p99_ms non2xx" on one line, for the
# benches that compare runs (deploy/bench/booking-hotpath, deploy/bench/replica-wait).
function ms(v) {
  if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
  if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
  if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
  return v
}
/Requests\/sec:/ { rps = $2 }
$1 == "50%" { p50 = ms($2) }
$1 == "99%" { p99 = ms($2) }
/Non-2xx/ { non2xx = $NF }
END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, non2xx }
