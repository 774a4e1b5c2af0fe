#!/usr/bin/env python3
"""The port-scan rule in DuckDB, on the same lake files scanlake reads.

usage: duckdb_rule.py LAKE PROFILE OUT.csv PART_MIN UNSEEN_MAX EVIDENCE_MIN [FROM TO]

The best formulation found for DuckDB (the same as scanlake's): the
precomputed flag column instead of parsing addresses; the (key, bin) groups
with more than 50 port events, a plain count (a bin with more than 50
distinct ports has more than 50 port events), counted per numeric key
(`SrcKey`, which the lake stores: the IPv4 address, else the low 64 bits of
the IPv6 one, else 0; sources that share a key are counted together, which
only adds groups; computed from SrcIpV4 and SrcIpV6Lo before the lake
stored it) and stored 5-minute bin (`SrcBin`, as scanlake reads it since
the lake stores it), over the rows
whose file holds PART_MIN port events or more of their source in their
5-minute bin (`SrcBinPortEvents`; the rows left out add at most UNSEEN_MAX
to a group; scripts/skipping.py works the three numbers out); the exact
distinct count, the threshold and the evidence lists in one aggregation of
those groups' events (with EVIDENCE_MIN above 0, no two files span a
bin, and the rows with EVIDENCE_MIN or more are the groups' events: no
join, one scan, as scanlake does). Until the lake stored `SrcBinPortEvents`, the
sources with more than 50 port events in the range came first, as
candidates. Tried and slower or equal: without the candidates (1.6x slower),
the candidates counted per SrcIpAddr text (1.03x slower), the evidence
joined on a time range, one aggregation of everything over the candidates'
events, the exact distinct count per (source, bin) for the candidates
before the evidence (level on the plain 7-day lake, 1.13x slower with 200
busy sources; BENCHMARKS.md, 2026-12-02 afternoon), the bin as an integer
(`epoch_us(TimeGenerated) // 300000000`, as scanlake's SQL has it since
2026-12-03: level or slower here). Writes the alerts as
CSV (SrcIpAddr, TimeGenerated, AttemptedPortsCount, AttemptedPorts) for
comparison.
"""
import sys

import duckdb

lake, profile, out = sys.argv[1:4]
part_min, unseen_max, evidence_min = (int(a) for a in sys.argv[4:7])
flag = {"default": "SrcIsExternal", "sentinel": "SrcIsExternalSentinel"}[profile]
time_filter = ""
if len(sys.argv) > 8:
    time_filter = f"AND TimeGenerated >= TIMESTAMPTZ '{sys.argv[7]}' AND TimeGenerated < TIMESTAMPTZ '{sys.argv[8]}'"
    time_filter += f" AND EventDate >= DATE '{sys.argv[7][:10]}' AND EventDate <= DATE '{sys.argv[8][:10]}'"
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
sql = f"""
WITH e AS (
    SELECT SrcIpAddr, time_bucket(INTERVAL '5 minutes', TimeGenerated) AS b, TimeGenerated, DstPortNumber,
           DstIpAddr, EventCount, EventVendor || '/' || EventProduct AS r,
           SrcKey AS k, SrcBin AS sb, SrcBinPortEvents AS p
    FROM read_parquet('{lake}/network_session/*/*.parquet', hive_partitioning = true)
    WHERE {flag} {time_filter}
), s AS (
    SELECT k, sb FROM e WHERE p >= {part_min} OR p IS NULL
    GROUP BY k, sb HAVING count(DstPortNumber) + {unseen_max} > 50
), ce AS (
    SELECT * FROM e WHERE p >= {evidence_min} OR p IS NULL
)
SELECT e.SrcIpAddr, strftime(e.b, '%Y-%m-%dT%H:%M:%SZ') AS TimeGenerated, count(DISTINCT e.DstPortNumber) AS AttemptedPortsCount,
       list_sort(list_distinct(list(e.DstPortNumber)))[1:100] AS AttemptedPorts,
       list_sort(list_distinct(list(e.r)))[1:20] AS ReportedBy,
       min(e.TimeGenerated) AS FirstSeen, max(e.TimeGenerated) AS LastSeen,
       sum(coalesce(e.EventCount, 1)) AS EventCount, count(DISTINCT e.DstIpAddr) AS DistinctTargets
FROM ce e {"" if evidence_min > 0 else "JOIN s USING (k, sb)"}
GROUP BY e.SrcIpAddr, e.b
HAVING count(DISTINCT e.DstPortNumber) > 50
ORDER BY e.b, e.SrcIpAddr
"""
rows = con.execute(sql).fetchall()
with open(out, "w") as f:
    f.write("SrcIpAddr,TimeGenerated,AttemptedPortsCount,AttemptedPorts\n")
    for r in rows:
        f.write(f"{r[0]},{r[1]},{r[2]},\"[{','.join(str(p) for p in r[3])}]\"\n")
