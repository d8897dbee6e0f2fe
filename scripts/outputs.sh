#!/usr/bin/env bash
# The command line's results on the demo, the airline survey and Kansas City's two waves,
# written to OUT: run it before and after a refactoring and `diff -r -x store -x '*.log'`
# the two folders (issue 25: results byte-equal before and after). Needs ../shared/data.
#   bash scripts/outputs.sh /tmp/before; (change); bash scripts/outputs.sh /tmp/after
set -euo pipefail
OUT=$(realpath -m "${1:?usage: scripts/outputs.sh OUT}")
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA=../shared/data
rm -rf "$OUT" && mkdir -p "$OUT"
export CMOT_STORE="$OUT/store"
A=$DATA/airline/airline_passenger_satisfaction.csv
KC=$DATA/kansas-city-resident
run() { local name=$1; shift; "$PY" -m cmot "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1 || echo "rc=$?" >> "$OUT/$name.log"; }
run demo analyze data/demo_survey.csv --spec data/demo_spec.toml --segment Segment
run demo_pool analyze data/demo_survey.csv --spec data/demo_spec.toml --segment Segment --pooling partial
run air analyze "$A" --outcome satisfaction --positive satisfied --segment Class --segment "Type of Travel"
run air_pool analyze "$A" --outcome satisfaction --positive satisfied --segment "Customer Type" --pooling partial
run air_seg segments "$A" --outcome satisfaction --positive satisfied --mode drivers --k 3 --seed 7
run kc_trend trend "$KC/wave_2021_09.csv" "$KC/wave_2022_03.csv" --outcome q2_01
echo "wrote $OUT"
