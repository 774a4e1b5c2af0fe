#!/usr/bin/env bash
# scanlake vs DuckDB on the same Parquet files, in one run on one machine.
# See BENCHMARKS.md for the method and the latest figures.
#
#   scripts/bench.sh                      # the full run (30M-row lake, 10M-line Zeek log)
#   ROWS=3000000 ZEEK_LINES=1000000 RUNS=3 scripts/bench.sh   # a quick one
#
# Settings (environment): ROWS, DAYS (the rule's lake), RUNS (runs per timing; the
# median is reported), HUNT_ROWS_PER_DAY (the 7- and 365-day hunt lakes),
# HUNT_RUNS (runs of each hunt, 15), ZEEK_LINES (ingest), BUSY_SOURCES (busy
# benign external sources in the rule's lakes, 0), WORK (where data goes;
# reused when the settings match).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-30000000}
DAYS=${DAYS:-7}
BUSY_SOURCES=${BUSY_SOURCES:-0}
RUNS=${RUNS:-9}
HUNT_ROWS_PER_DAY=${HUNT_ROWS_PER_DAY:-100000}
HUNT_RUNS=${HUNT_RUNS:-15}
ZEEK_LINES=${ZEEK_LINES:-10000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/scanlake-target}"
WORK=${WORK:-$CARGO_TARGET_DIR/bench}
BIN="$CARGO_TARGET_DIR/release/scanlake"
mkdir -p "$WORK"
RESULTS="$WORK/results.md"

echo "== building release" >&2
cargo build --release --quiet
[ -x "$WORK/venv/bin/python" ] || python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -c 'import duckdb, polars' 2>/dev/null ||
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check 'duckdb==2.0.*' 'polars==2.1.*'
DUCKDB_VERSION=$("$PY" -c 'import duckdb; print(duckdb.__version__)')
POLARS_VERSION=$("$PY" -c 'import polars; print(polars.__version__)')

# once CMD... : runs CMD once; sets SECS (wall seconds, to the millisecond:
# /usr/bin/time's own figure has 10 ms steps, too coarse for the hunts),
# CPU_SECS (user + system, of CMD and what it waited for) and KIB (peak RSS),
# the last two from /usr/bin/time.
once() {
    local start=$EPOCHREALTIME user system
    /usr/bin/time -f "%M %U %S" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || { cat "$WORK/stderr.txt" >&2; exit 1; }
    SECS=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
    read -r KIB user system < "$WORK/time.txt"
    CPU_SECS=$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# record NAME PEAK_KIB "SECONDS..." "CPU_SECONDS..." : the medians of NAME's
# runs (wall and CPU) and their peak (MiB).
declare -A MEDIAN CPU PEAK ALERTS
record() {
    local name=$1 peak=$2 times=${3# } cpus=${4# }
    # shellcheck disable=SC2086 # the times, one word each
    MEDIAN[$name]=$(median $times)
    # shellcheck disable=SC2086
    CPU[$name]=$(median $cpus)
    PEAK[$name]=$((peak / 1024))
    echo "$name: median ${MEDIAN[$name]} s over $(wc -w <<< "$times") runs ($times), CPU median ${CPU[$name]} s ($cpus), peak ${PEAK[$name]} MiB" >&2
}

# in_turn N NAME_1 ARGV_1 [NAME_2 ARGV_2 ...] : runs the commands held in the
# arrays named ARGV_1, ARGV_2, ... in turn (1, 2, ..., 1, 2, ...), N times
# each, so that a machine getting faster or slower during the run weighs on
# all of them alike.
in_turn() {
    local n=$1; shift
    local names=() argvs=() i argv
    while [ $# -gt 0 ]; do names+=("$1"); argvs+=("$2"); shift 2; done
    local times=() cpus=() peak=()
    for _ in $(seq "$n"); do
        for i in "${!names[@]}"; do
            argv="${argvs[$i]}[@]"
            once "${!argv}"
            times[$i]+=" $SECS"
            cpus[$i]+=" $CPU_SECS"
            (( KIB > ${peak[$i]:-0} )) && peak[$i]=$KIB
        done
    done
    for i in "${!names[@]}"; do
        record "${names[$i]}" "${peak[$i]}" "${times[$i]}" "${cpus[$i]}"
    done
}

lake() {  # lake DIR ROWS DAYS [BUSY_SOURCES] : generate once
    # The marker names the lake layout too (v9: external sources clustered first, the rows of the busiest bins first among them, each external row's source key, 5-minute bin and its file's port events of the source in that bin, no dictionary for near-unique or constant columns, statistics where they prune, start and end times delta-encoded).
    local busy=${4:-0} marker="$1/.done-$2-$3-v9"
    [ "$busy" = 0 ] || marker="$1/.done-$2-$3-busy$busy-v9"
    if [ ! -f "$marker" ]; then
        rm -rf "$1"
        "$BIN" -q generate --lake "$1" --rows "$2" --days "$3" --busy-sources "$busy" > /dev/null
        touch "$marker"
    fi
}
BUSY_NOTE=""
[ "$BUSY_SOURCES" = 0 ] || BUSY_NOTE=" with $BUSY_SOURCES busy benign sources"

echo "== the rule: $ROWS rows over $DAYS days$BUSY_NOTE" >&2
RULE="$WORK/rule-lake"
lake "$RULE" "$ROWS" "$DAYS" "$BUSY_SOURCES"
LAKE_MIB=$(du -sm "$RULE/network_session" | cut -f1)
# The same lake after `scanlake compact`: each day in files in time order,
# no 5-minute bin spanning two of them. Compacted in every run (timed).
COMPACTED="$WORK/rule-compacted"
rm -rf "$COMPACTED" && cp -r "$RULE" "$COMPACTED"
COMPACT=("$BIN" -q compact --lake "$COMPACTED")
in_turn 1 compact COMPACT
COMPACTED_MIB=$(du -sm "$COMPACTED/network_session" | cut -f1)

# rule_runs LAKE SUFFIX : the rule, both profiles, all three engines, on LAKE.
rule_runs() {
    local lake=$1 suffix=$2 profile engine
    # What the first pass may skip, worked out once here for DuckDB and Polars
    # (scanlake works it out in each run, from the files' statistics).
    read -r -a SKIPPING <<< "$("$PY" scripts/skipping.py "$lake")"
    echo "skipping in $lake (part_min unseen_max evidence_min): ${SKIPPING[*]}" >&2
    for profile in default sentinel; do
        local name="$profile$suffix"
        RULE_SCANLAKE=("$BIN" -q detect --lake "$lake" --profile "$profile" --format csv --output "$WORK/scanlake-$name.csv")
        RULE_DUCKDB=("$PY" scripts/duckdb_rule.py "$lake" "$profile" "$WORK/duckdb-$name.csv" "${SKIPPING[@]}")
        RULE_POLARS=("$PY" scripts/polars_rule.py "$lake" "$profile" "$WORK/polars-$name.csv" "${SKIPPING[@]}")
        in_turn "$RUNS" "scanlake-$name" RULE_SCANLAKE "duckdb-$name" RULE_DUCKDB "polars-$name" RULE_POLARS
        for engine in duckdb polars; do
            # Same alerts: source, bin, exact count and the lowest 100 ports.
            "$PY" - "$WORK/scanlake-$name.csv" "$WORK/$engine-$name.csv" <<'PYEOF' || { echo "scanlake and $engine disagree on the $name alerts" >&2; exit 1; }
import csv, json, sys
def alerts(path):
    return [(r["SrcIpAddr"], r["TimeGenerated"], int(r["AttemptedPortsCount"]), json.loads(r["AttemptedPorts"])) for r in csv.DictReader(open(path))]
a, b = alerts(sys.argv[1]), alerts(sys.argv[2])
sys.exit(0 if a == b and a else 1)
PYEOF
        done
        ALERTS[$name]=$(($(wc -l < "$WORK/scanlake-$name.csv") - 1))
    done
}
rule_runs "$RULE" ""
rule_runs "$COMPACTED" "-compacted"
for profile in default sentinel; do
    cmp -s "$WORK/scanlake-$profile.csv" "$WORK/scanlake-$profile-compacted.csv" ||
        { echo "compact changed the $profile alerts" >&2; exit 1; }
done

echo "== the floor: each engine reads the rule's columns of the external rows once, without grouping" >&2
READ_SQL="SELECT count(SrcIpAddr) AS a, count(TimeGenerated) AS b, count(DstPortNumber) AS c, count(DstIpAddr) AS d,
    count(EventCount) AS e, count(EventVendor) AS f, count(EventProduct) AS g, count(SrcIpV4) AS h, count(SrcIpV6Lo) AS i
    FROM network_session WHERE SrcIsExternal"
READ_SCANLAKE=("$BIN" -q query --lake "$RULE" --format csv "$READ_SQL")
READ_DUCKDB=("$PY" scripts/duckdb_query.py "$RULE" "$READ_SQL")
in_turn "$RUNS" read-scanlake READ_SCANLAKE read-duckdb READ_DUCKDB
cmp -s <("$BIN" -q query --lake "$RULE" --format csv "$READ_SQL") <("$PY" scripts/duckdb_query.py "$RULE" "$READ_SQL") ||
    { echo "scanlake and DuckDB read different counts" >&2; exit 1; }

echo "== the rule on a Ballista cluster on this machine (1 scheduler, 2 executors)" >&2
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SCHED=$(free_port)
CLUSTER=()
"$BIN" -q scheduler --bind "127.0.0.1:$SCHED" & CLUSTER+=($!)
sleep 1
for i in 1 2; do
    mkdir -p "$WORK/executor-$i"
    "$BIN" -q executor --scheduler "127.0.0.1:$SCHED" --port "$(free_port)" --grpc-port "$(free_port)" \
        --concurrent-tasks 1 --work-dir "$WORK/executor-$i" & CLUSTER+=($!)
done
# Executors first: one whose scheduler is gone logs errors as it stops.
stop_cluster() {
    kill "${CLUSTER[@]:1}" 2>/dev/null || true
    wait "${CLUSTER[@]:1}" 2>/dev/null || true
    kill "${CLUSTER[0]}" 2>/dev/null || true
    wait "${CLUSTER[0]}" 2>/dev/null || true
}
trap stop_cluster EXIT
sleep 3
BALLISTA=("$BIN" -q detect --lake "$RULE" --engine ballista --scheduler "df://127.0.0.1:$SCHED" --format csv --output "$WORK/ballista-default.csv")
in_turn "$RUNS" ballista-default BALLISTA
cmp -s "$WORK/ballista-default.csv" "$WORK/scanlake-default.csv" || { echo "Ballista and the local engine disagree" >&2; exit 1; }
stop_cluster
trap - EXIT

echo "== a one-day hunt: 7 days vs 365 days of $HUNT_ROWS_PER_DAY rows a day" >&2
lake "$WORK/hunt-7" $((HUNT_ROWS_PER_DAY * 7)) 7
lake "$WORK/hunt-365" $((HUNT_ROWS_PER_DAY * 365)) 365
ONE_DAY=(-q detect --from 2024-04-21T00:00:00Z --to 2024-04-22T00:00:00Z --format csv --lake)
HUNT_7=("$BIN" "${ONE_DAY[@]}" "$WORK/hunt-7")
HUNT_365=("$BIN" "${ONE_DAY[@]}" "$WORK/hunt-365")
in_turn "$HUNT_RUNS" hunt-7 HUNT_7 hunt-365 HUNT_365

echo "== ingest: a $ZEEK_LINES-line Zeek conn.log" >&2
ZEEK="$WORK/conn-$ZEEK_LINES.log"
[ -f "$ZEEK" ] || "$BIN" -q generate --zeek "$ZEEK" --rows "$ZEEK_LINES" --days 1
ZEEK_MB=$(( $(stat -c %s "$ZEEK") / 1000000 ))
INGEST_SCANLAKE=(bash -c "rm -rf '$WORK/ingest-lake' && '$BIN' -q ingest --lake '$WORK/ingest-lake' '$ZEEK'")
INGEST_DUCKDB=(bash -c "rm -f '$WORK/duckdb.parquet' && '$PY' scripts/duckdb_ingest.py '$ZEEK' '$WORK/duckdb.parquet'")
in_turn "$RUNS" ingest-scanlake INGEST_SCANLAKE ingest-duckdb INGEST_DUCKDB

if [ -n "${BIG_ROWS:-}" ]; then
    echo "== --memory-limit 256MB on a $BIG_ROWS-row lake" >&2
    lake "$WORK/big-lake" "$BIG_ROWS" 30 "$BUSY_SOURCES"
    BIG_MIB=$(du -sm "$WORK/big-lake/network_session" | cut -f1)
    BIG_UNLIMITED=("$BIN" -q detect --lake "$WORK/big-lake" --format csv --output "$WORK/big-unlimited.csv")
    BIG_LIMITED=("$BIN" -q detect --lake "$WORK/big-lake" --memory-limit 256MB --format csv --output "$WORK/big-limited.csv")
    in_turn 1 big-unlimited BIG_UNLIMITED big-limited BIG_LIMITED
    cmp -s "$WORK/big-unlimited.csv" "$WORK/big-limited.csv" || { echo "--memory-limit changed the alerts" >&2; exit 1; }
    BIG_ALERTS=$(($(wc -l < "$WORK/big-limited.csv") - 1))
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbs() { awk -v mb="$1" -v s="$2" 'BEGIN { printf "%.0f", mb / s }'; }
{
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; scanlake $(git rev-parse --short HEAD), DuckDB $DUCKDB_VERSION, Polars $POLARS_VERSION; $RUNS runs each, medians of whole-process wall time."
    echo
    echo "| what | scanlake s | DuckDB s | Polars s | DuckDB / scanlake | Polars / scanlake | CPU s (user + system): scanlake, DuckDB, Polars | peak MiB: scanlake, DuckDB, Polars |"
    echo "|---|---|---|---|---|---|---|---|"
    for profile in default sentinel; do
        echo "| rule, $profile profile, $ROWS rows / $DAYS days$BUSY_NOTE ($LAKE_MIB MiB), ${ALERTS[$profile]} alerts, same in all three | ${MEDIAN[scanlake-$profile]} | ${MEDIAN[duckdb-$profile]} | ${MEDIAN[polars-$profile]} | $(ratio "${MEDIAN[duckdb-$profile]}" "${MEDIAN[scanlake-$profile]}") | $(ratio "${MEDIAN[polars-$profile]}" "${MEDIAN[scanlake-$profile]}") | ${CPU[scanlake-$profile]}, ${CPU[duckdb-$profile]}, ${CPU[polars-$profile]} | ${PEAK[scanlake-$profile]}, ${PEAK[duckdb-$profile]}, ${PEAK[polars-$profile]} |"
    done
    for profile in default sentinel; do
        local_name="$profile-compacted"
        echo "| rule, $profile profile, the same lake after \`scanlake compact\` ($COMPACTED_MIB MiB), same alerts | ${MEDIAN[scanlake-$local_name]} | ${MEDIAN[duckdb-$local_name]} | ${MEDIAN[polars-$local_name]} | $(ratio "${MEDIAN[duckdb-$local_name]}" "${MEDIAN[scanlake-$local_name]}") | $(ratio "${MEDIAN[polars-$local_name]}" "${MEDIAN[scanlake-$local_name]}") | ${CPU[scanlake-$local_name]}, ${CPU[duckdb-$local_name]}, ${CPU[polars-$local_name]} | ${PEAK[scanlake-$local_name]}, ${PEAK[duckdb-$local_name]}, ${PEAK[polars-$local_name]} |"
    done
    echo "| compact the $ROWS-row lake ($(mbs "$ROWS" "${MEDIAN[compact]}") rows/s) | ${MEDIAN[compact]} | | | | | ${CPU[compact]} | ${PEAK[compact]} |"
    echo "| floor: read the rule's 9 columns of the external rows once, no grouping (3x DuckDB's rule: $(awk -v d="${MEDIAN[duckdb-default]}" 'BEGIN { printf "%.3f", d / 3 }') s) | ${MEDIAN[read-scanlake]} | ${MEDIAN[read-duckdb]} | | $(ratio "${MEDIAN[read-duckdb]}" "${MEDIAN[read-scanlake]}") | | ${CPU[read-scanlake]}, ${CPU[read-duckdb]} | ${PEAK[read-scanlake]}, ${PEAK[read-duckdb]} |"
    echo "| ingest $ZEEK_LINES Zeek lines ($ZEEK_MB MB): scanlake $(mbs "$ZEEK_MB" "${MEDIAN[ingest-scanlake]}") MB/s, DuckDB $(mbs "$ZEEK_MB" "${MEDIAN[ingest-duckdb]}") MB/s | ${MEDIAN[ingest-scanlake]} | ${MEDIAN[ingest-duckdb]} | | $(ratio "${MEDIAN[ingest-duckdb]}" "${MEDIAN[ingest-scanlake]}") | | ${CPU[ingest-scanlake]}, ${CPU[ingest-duckdb]} | ${PEAK[ingest-scanlake]}, ${PEAK[ingest-duckdb]} |"
    echo
    echo "| one-day hunt | 7-day lake s | 365-day lake s | 365 / 7 |"
    echo "|---|---|---|---|"
    echo "| $HUNT_ROWS_PER_DAY rows a day | ${MEDIAN[hunt-7]} | ${MEDIAN[hunt-365]} | $(ratio "${MEDIAN[hunt-365]}" "${MEDIAN[hunt-7]}") |"
    echo
    echo "| the rule (default profile), $ROWS rows | s | rows/s | peak MiB |"
    echo "|---|---|---|---|"
    echo "| local engine | ${MEDIAN[scanlake-default]} | $(mbs "$ROWS" "${MEDIAN[scanlake-default]}") | ${PEAK[scanlake-default]} |"
    echo "| Ballista, 1 scheduler + 2 executors on this machine (client RSS) | ${MEDIAN[ballista-default]} | $(mbs "$ROWS" "${MEDIAN[ballista-default]}") | ${PEAK[ballista-default]} |"
    if [ -n "${BIG_ROWS:-}" ]; then
        echo
        echo "| $BIG_ROWS rows / 30 days$BUSY_NOTE ($BIG_MIB MiB), $BIG_ALERTS alerts, same with and without the limit | s | peak MiB |"
        echo "|---|---|---|"
        echo "| no limit | ${MEDIAN[big-unlimited]} | ${PEAK[big-unlimited]} |"
        echo "| --memory-limit 256MB | ${MEDIAN[big-limited]} | ${PEAK[big-limited]} |"
    fi
} | tee "$RESULTS"
