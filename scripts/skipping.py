#!/usr/bin/env python3
"""What the rule's first pass may skip on a lake, as scanlake works it out.

usage: skipping.py LAKE [FROM TO]

Prints `part_min unseen_max evidence_min` for the default rule (threshold
50, 5-minute bins), from the lake files' TimeGenerated statistics, as
`scanlake detect` computes them (src/detect/mod.rs, `Skipping`): n is the
most files whose first-to-last event span touches one 5-minute bin;
part_min = 50 // n + 1, unseen_max = (n - 1) * (part_min - 1),
evidence_min = part_min if n == 1 else 0. The benchmark works them out
once, untimed, and hands them to DuckDB and Polars, which would otherwise
have to read the same statistics themselves, as scanlake does in each run.
"""
import sys

import duckdb

BIN = 300_000_000  # microseconds
lake = sys.argv[1]
dates = ""
if len(sys.argv) > 3:
    dates = f"WHERE date >= '{sys.argv[2][:10]}' AND date <= '{sys.argv[3][:10]}'"
spans = duckdb.sql(f"""
    SELECT epoch_us(min(stats_min::TIMESTAMPTZ)), epoch_us(max(stats_max::TIMESTAMPTZ))
    FROM (SELECT *, regexp_extract(file_name, 'EventDate=([0-9-]+)', 1) AS date
          FROM parquet_metadata('{lake}/network_session/*/*.parquet')
          WHERE path_in_schema = 'TimeGenerated')
    {dates}
    GROUP BY file_name
""").fetchall()
edges = sorted([(first // BIN, 1) for first, _ in spans] + [(last // BIN + 1, -1) for _, last in spans])
files = most = 0
for _, edge in edges:
    files += edge
    most = max(most, files)
n = max(most, 1)
part_min = 50 // n + 1
print(part_min, (n - 1) * (part_min - 1), part_min if n == 1 else 0)
