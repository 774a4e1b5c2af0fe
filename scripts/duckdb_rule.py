#!/usr/bin/env python3
"""The port-scan rule in DuckDB, on the same lake files scanlake reads.

usage: duckdb_rule.py LAKE PROFILE OUT.csv [FROM TO]

The best formulation found for DuckDB (the same as scanlake's): the
precomputed flag column instead of parsing addresses; the sources with more
than 50 port events in the range as candidates (a cheap count per source,
exact: no other source can alert), counted per numeric key (the IPv4
address, else the low 64 bits of the IPv6 one, else 0: sources that share a
key are counted together, which only adds candidates); the (key, bin) groups
of those with more than 50 port events, a plain count (a bin with more than
50 distinct ports has more than 50 port events); the exact distinct count,
the threshold and the evidence lists in one aggregation of those groups'
events. Tried and slower or equal: without the candidates (1.6x slower),
the candidates counted per SrcIpAddr text (1.03x slower), the evidence
joined on a time range, one aggregation of everything over the candidates'
events, the exact distinct count per (source, bin) for the candidates
before the evidence (level on the plain 7-day lake, 1.13x slower with 200
busy sources; BENCHMARKS.md, 2026-12-02 afternoon). Writes the alerts as
CSV (SrcIpAddr, TimeGenerated, AttemptedPortsCount, AttemptedPorts) for
comparison.
"""
import sys

import duckdb

lake, profile, out = sys.argv[1:4]
flag = {"default": "SrcIsExternal", "sentinel": "SrcIsExternalSentinel"}[profile]
time_filter = ""
if len(sys.argv) > 5:
    time_filter = f"AND TimeGenerated >= TIMESTAMPTZ '{sys.argv[4]}' AND TimeGenerated < TIMESTAMPTZ '{sys.argv[5]}'"
    time_filter += f" AND EventDate >= DATE '{sys.argv[4][:10]}' AND EventDate <= DATE '{sys.argv[5][:10]}'"
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
sql = f"""
WITH e AS (
    SELECT SrcIpAddr, time_bucket(INTERVAL '5 minutes', TimeGenerated) AS b, TimeGenerated, DstPortNumber,
           DstIpAddr, EventCount, EventVendor || '/' || EventProduct AS r,
           coalesce(SrcIpV4::UBIGINT, SrcIpV6Lo, 0::UBIGINT) AS k
    FROM read_parquet('{lake}/network_session/*/*.parquet', hive_partitioning = true)
    WHERE {flag} {time_filter}
), c AS (
    SELECT k FROM e GROUP BY k HAVING count(DstPortNumber) > 50
), ce AS (
    SELECT * FROM e SEMI JOIN c USING (k)
), s AS (
    SELECT k, b FROM ce GROUP BY k, b HAVING count(DstPortNumber) > 50
)
SELECT e.SrcIpAddr, strftime(e.b, '%Y-%m-%dT%H:%M:%SZ') AS TimeGenerated, count(DISTINCT e.DstPortNumber) AS AttemptedPortsCount,
       list_sort(list_distinct(list(e.DstPortNumber)))[1:100] AS AttemptedPorts,
       list_sort(list_distinct(list(e.r)))[1:20] AS ReportedBy,
       min(e.TimeGenerated) AS FirstSeen, max(e.TimeGenerated) AS LastSeen,
       sum(coalesce(e.EventCount, 1)) AS EventCount, count(DISTINCT e.DstIpAddr) AS DistinctTargets
FROM ce e JOIN s USING (k, b)
GROUP BY e.SrcIpAddr, e.b
HAVING count(DISTINCT e.DstPortNumber) > 50
ORDER BY e.b, e.SrcIpAddr
"""
rows = con.execute(sql).fetchall()
with open(out, "w") as f:
    f.write("SrcIpAddr,TimeGenerated,AttemptedPortsCount,AttemptedPorts\n")
    for r in rows:
        f.write(f"{r[0]},{r[1]},{r[2]},\"[{','.join(str(p) for p in r[3])}]\"\n")
