#!/usr/bin/env python3
"""Runs SQL in DuckDB over a scanlake lake's files, as `scanlake query` does.

usage: duckdb_query.py LAKE SQL

`network_session` is the lake's table (a view over its Parquet files, with
the EventDate partition column). Prints the result as CSV.
"""
import sys

import duckdb

lake, sql = sys.argv[1:3]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(
    f"CREATE VIEW network_session AS SELECT * FROM read_parquet('{lake}/network_session/*/*.parquet', hive_partitioning = true)"
)
con.sql(sql).write_csv("/dev/stdout")
