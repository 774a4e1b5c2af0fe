#!/usr/bin/env python3
"""The port-scan rule in Polars (lazy, streaming engine), on the same lake files scanlake reads.

usage: polars_rule.py LAKE PROFILE OUT.csv

The best formulation found for Polars, the same as for DuckDB: the
precomputed flag column instead of parsing addresses, the sources with more
than 50 port events in the range as candidates (counted per numeric key, as
scanlake does: 1.08x faster than per SrcIpAddr text), the (key, bin)
groups of those with more than 50 port events (a plain count), and the exact
distinct count, the threshold and the evidence lists in one aggregation of
those groups' events (the exact distinct count for the candidates first:
level on the plain 7-day lake, 1.06x slower with 200 busy sources). Writes
the alerts as CSV (SrcIpAddr, TimeGenerated, AttemptedPortsCount,
AttemptedPorts) for comparison.
"""
import sys

import polars as pl

lake, profile, out = sys.argv[1:4]
flag = {"default": "SrcIsExternal", "sentinel": "SrcIsExternalSentinel"}[profile]
events = (
    pl.scan_parquet(f"{lake}/network_session/*/*.parquet", hive_partitioning=True)
    .filter(pl.col(flag))
    .select(
        "SrcIpAddr",
        pl.col("TimeGenerated").dt.truncate("5m").alias("b"),
        "TimeGenerated",
        "DstPortNumber",
        "DstIpAddr",
        "EventCount",
        pl.concat_str("EventVendor", pl.lit("/"), "EventProduct").alias("r"),
        pl.coalesce(pl.col("SrcIpV4").cast(pl.UInt64), "SrcIpV6Lo", pl.lit(0, dtype=pl.UInt64)).alias("k"),
    )
)
candidates = events.group_by("k").agg(pl.col("DstPortNumber").count().alias("c")).filter(pl.col("c") > 50)
cand_events = events.join(candidates.select("k"), on="k", how="semi")
scanners = (
    cand_events.group_by("k", "b").agg(pl.col("DstPortNumber").count().alias("c")).filter(pl.col("c") > 50)
)
alerts = (
    cand_events.join(scanners.select("k", "b"), on=["k", "b"], how="semi")
    .group_by("SrcIpAddr", "b")
    .agg(
        pl.col("DstPortNumber").drop_nulls().n_unique().alias("n"),
        pl.col("DstPortNumber").drop_nulls().unique().sort().head(100).alias("ports"),
        pl.col("r").unique().sort().head(20).alias("reporters"),
        pl.col("TimeGenerated").min().alias("first"),
        pl.col("TimeGenerated").max().alias("last"),
        pl.col("EventCount").fill_null(1).sum().alias("events"),
        pl.col("DstIpAddr").n_unique().alias("targets"),
    )
    .filter(pl.col("n") > 50)
    .sort("b", "SrcIpAddr")
    .collect(engine="streaming")
)
with open(out, "w") as f:
    f.write("SrcIpAddr,TimeGenerated,AttemptedPortsCount,AttemptedPorts\n")
    for src, b, n, ports in alerts.select("SrcIpAddr", "b", "n", "ports").iter_rows():
        f.write(f"{src},{b.strftime('%Y-%m-%dT%H:%M:%SZ')},{n},\"[{','.join(str(p) for p in ports)}]\"\n")
