#!/usr/bin/env python3
"""DuckDB's conversion of a Zeek conn.log (TSV) to Parquet: read_csv → COPY.

usage: duckdb_ingest.py CONN.log OUT.parquet
"""
import sys

import duckdb

src, out = sys.argv[1:3]
columns = {
    "ts": "DOUBLE", "uid": "VARCHAR", "id.orig_h": "VARCHAR", "id.orig_p": "INTEGER", "id.resp_h": "VARCHAR",
    "id.resp_p": "INTEGER", "proto": "VARCHAR", "service": "VARCHAR", "duration": "DOUBLE", "orig_bytes": "BIGINT",
    "resp_bytes": "BIGINT", "conn_state": "VARCHAR", "local_orig": "VARCHAR", "local_resp": "VARCHAR",
    "missed_bytes": "BIGINT", "history": "VARCHAR", "orig_pkts": "BIGINT", "orig_ip_bytes": "BIGINT",
    "resp_pkts": "BIGINT", "resp_ip_bytes": "BIGINT", "tunnel_parents": "VARCHAR",
}
cols = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
duckdb.connect().execute(
    f"""COPY (SELECT * FROM read_csv('{src}', delim = '\t', header = false, comment = '#', nullstr = '-', auto_detect = false, quote = '', escape = '',
                                     columns = {{{cols}}}))
        TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
)
