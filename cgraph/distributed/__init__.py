"""The Dask engine: `cgraph eval --data` and `cgraph train` on a Dask cluster
(`--engine dask`), a local one of N worker processes or an existing one (`--scheduler`).

Modules by job: cluster.py (Dask imported on demand, the client, a clear error when the
scheduler cannot be reached), local.py (what runs on a worker: the local engine over one
partition, the only place that calls it), rows.py (eval: partitions out, rows back in
input order, written by output.py), train.py (synchronous data-parallel training).

A partition is one data file, or a run of row groups of a large Parquet file
(partitions.py): `--data 'parts/*.parquet'` gives at least one per file, evaluated on
the workers that read the files themselves (the path must be readable by them)."""
