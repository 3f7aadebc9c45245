#!/usr/bin/env bash
# The shared Cliniko budget under load: three ClinicGate instances (three processes, each with its
# own Redis connection) share one clinic's key, offering twice the budget for three minutes to a
# Cliniko sandbox limited like Cliniko (200 calls per sliding minute). Then the cost of one budget
# check, in-process and on Redis. Results go to BENCHMARKS.md by hand.
#
#   bench/cliniko_budget.sh                      # defaults below
#   SECONDS_TO_RUN=60 REDIS_URL=redis://127.0.0.1:6379 bench/cliniko_budget.sh
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
SECONDS_TO_RUN=${SECONDS_TO_RUN:-180}
PORT=${PORT:-18190}
BUDGET=190                      # the default budget_per_minute
OFFERED_TOTAL=$((BUDGET * 2))   # offered load: 2x the budget, split over three instances
OUT=$(mktemp -d)

cargo build --release -p clinicgate-api --bin clinicgate
cargo build --release -p clinicgate-adapters --example cliniko_budget
BIN=target/release/clinicgate
LOAD=target/release/examples/cliniko_budget

"$BIN" cliniko-sandbox --port "$PORT" --rate-limit 200 > "$OUT/sandbox.log" 2>&1 &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/__sandbox/keys" > "$OUT/keys.json" && break; sleep 0.2; done
KEY=$(python3 -c 'import json,sys; print(next(k["key"] for k in json.load(open(sys.argv[1]))["keys"] if k["role"]=="administrator"))' "$OUT/keys.json")
TENANT=$(python3 -c 'import uuid; print(uuid.uuid4())')
PREFIX="bench:$(date +%s)"

echo "3 instances x $(python3 -c "print(round($OFFERED_TOTAL/3,2))")/min offered for ${SECONDS_TO_RUN}s against a sandbox limited to 200/min..."
PIDS=()
for i in 1 2 3; do
  "$LOAD" load --base-url "http://127.0.0.1:$PORT/{shard}/v1" --key "$KEY" --redis "$REDIS_URL" \
    --prefix "$PREFIX" --per-minute "$(python3 -c "print($OFFERED_TOTAL/3)")" --seconds "$SECONDS_TO_RUN" \
    --tenant "$TENANT" > "$OUT/instance$i.json" &
  PIDS+=($!)
done
wait "${PIDS[@]}"
curl -fs "http://127.0.0.1:$PORT/__sandbox/stats" > "$OUT/stats.json"

python3 - "$OUT" "$SECONDS_TO_RUN" "$BUDGET" <<'PY'
import json, sys, pathlib
out, seconds, budget = pathlib.Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
stats = json.loads((out / "stats.json").read_text())
acct = next(iter(stats["accounts"].values()))
instances = [json.loads((out / f"instance{i}.json").read_text()) for i in (1, 2, 3)]
offered = sum(i["offered"] for i in instances)
lanes = {l: {k: sum(i[l][k] for i in instances) for k in ("granted", "refused", "errors")} for l in ("interactive", "api", "background")}
granted = sum(l["granted"] for l in lanes.values())
per_min = acct["accepted"] / (seconds / 60)
print(f"offered            {offered} calls ({offered / (seconds / 60):.0f}/min)")
print(f"sent to Cliniko    {acct['accepted']} ({per_min:.1f}/min = {100 * per_min / budget:.1f}% of the {budget}/min budget)")
print(f"granted (clients)  {granted}")
print(f"429 from sandbox   {acct['rate_limited']}")
print(f"peak in any 60 s   {acct['peak_in_window']} (sandbox limit 200)")
for name, l in lanes.items():
    print(f"  {name:<12} granted {l['granted']:>4}  refused {l['refused']:>4}  errors {l['errors']}")
PY

echo "Budget check cost (cache pause lookup + GCRA acquire), 20000 sequential checks:"
"$LOAD" micro --redis "$REDIS_URL" --iterations 20000
