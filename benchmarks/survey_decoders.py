"""Time column-writing JSON decoders against read_trades and a bare json.loads loop.

Issue 13 asks for ingestion at 0.35x a bare ``json.loads`` loop. This script
records why the project did not take on a new decoder for it: each decoder
below reads the same dialect-C file into columns, *without* the format
contract's checks, and is timed against the loop in the same run (best of
``--repeats``, alternating). Decoders that are not installed are skipped; none
of them is a dependency of calibration_core::

    pip install pyarrow polars duckdb   # in a scratch venv, not the project's
    python benchmarks/survey_decoders.py [--trades 200000] [--repeats 3]

The figures and the decision are in docs/performance.md ("Decoders that write
columns").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibration_core.sources.example_data import write_example_trades
from calibration_core.sources.trades import read_trades

if TYPE_CHECKING:
    from collections.abc import Callable

MODELS = ("xgb", "lgbm", "nhits", "patchtst", "tft", "dlinear")
STRINGS = ("timestamp", "symbol", "side", "trade_id", "entry_timestamp", "model_id")
FLOATS = ("confidence", "entry_price", "exit_price", "actual_pnl_pct")


def json_loop(path: Path) -> object:
    """Parse every line with json.loads: the reference."""
    with path.open("rb") as lines:
        for line in lines:
            json.loads(line)
    return None


def ours(path: Path) -> object:
    """Read the file as calibration_core does, every line checked against the contract."""
    return read_trades(path)


def msgspec_floor(path: Path) -> object:
    """Decode only: one typed Struct per record, the votes as Structs (no columns)."""
    import msgspec  # noqa: PLC0415

    vote = msgspec.defstruct("Vote", [("action", str), ("confidence", float)], gc=False)
    record = msgspec.defstruct(
        "Record",
        [
            *((name, str) for name in STRINGS),
            *((name, float) for name in FLOATS),
            ("consensus_count", int),
            ("model_breakdown", dict[str, vote]),  # type: ignore[valid-type]
        ],
        gc=False,
    )
    decoder = msgspec.json.Decoder(list[record])  # type: ignore[valid-type]
    decoded = 0
    with path.open("rb") as lines:
        # 1 MiB blocks of whole lines, each decoded as one array, as read_trades does.
        while block := lines.read(1 << 20):
            block += lines.readline()
            decoded += len(decoder.decode(b"[" + block[:-1].replace(b"\n", b",") + b"]"))
    return decoded


def pyarrow_reader(*, threads: bool) -> Callable[[Path], object]:
    """Return a pyarrow reader: typed columns, close times parsed, words coded."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.json as pj  # noqa: PLC0415

    vote = pa.struct([("action", pa.string()), ("confidence", pa.float64())])
    schema = pa.schema(
        [
            *((name, pa.string()) for name in STRINGS),
            *((name, pa.float64()) for name in FLOATS),
            ("consensus_count", pa.int64()),
            ("model_breakdown", pa.struct([(m, vote) for m in MODELS])),
        ]
    )

    def read(path: Path) -> object:
        table = pj.read_json(
            path,
            read_options=pj.ReadOptions(use_threads=threads, block_size=1 << 20),
            parse_options=pj.ParseOptions(explicit_schema=schema),
        )
        stamps = pc.strptime(table["timestamp"], format="%Y-%m-%dT%H:%M:%S%z", unit="us")
        columns: dict[str, Any] = {"timestamp": stamps.cast(pa.int64()).to_numpy()}
        columns.update((name, table[name].to_numpy()) for name in FLOATS)
        for name in ("symbol", "side"):
            columns[name] = table[name].dictionary_encode().combine_chunks().indices.to_numpy()
        votes = table["model_breakdown"].combine_chunks()
        for model in MODELS:
            vote_column = votes.field(model)
            columns[model] = (
                vote_column.field("action")
                .dictionary_encode()
                .indices.to_numpy(zero_copy_only=False),
                vote_column.field("confidence").to_numpy(zero_copy_only=False),
            )
        return columns

    return read


def polars_reader(path: Path) -> object:
    """Decode into a polars DataFrame with an explicit schema."""
    import polars as pl  # noqa: PLC0415

    vote = pl.Struct({"action": pl.String, "confidence": pl.Float64})
    schema: dict[str, Any] = {
        **dict.fromkeys(STRINGS, pl.String),
        **dict.fromkeys(FLOATS, pl.Float64),
        "consensus_count": pl.Int64,
        "model_breakdown": pl.Struct(dict.fromkeys(MODELS, vote)),
    }
    return pl.read_ndjson(path, schema=schema)


def duckdb_reader(path: Path) -> object:
    """Decode with DuckDB's JSON reader into numpy columns, close times as epochs."""
    import duckdb  # noqa: PLC0415

    vote = "STRUCT(action VARCHAR, confidence DOUBLE)"
    columns = {
        **dict.fromkeys(STRINGS, "VARCHAR"),
        **dict.fromkeys(FLOATS, "DOUBLE"),
        "timestamp": "TIMESTAMPTZ",
        "consensus_count": "BIGINT",
        "model_breakdown": "STRUCT(" + ", ".join(f"{m} {vote}" for m in MODELS) + ")",
    }
    select = ", ".join(
        [
            "epoch(timestamp)",
            "symbol",
            "side",
            *FLOATS,
            *(f"model_breakdown.{m}.action, model_breakdown.{m}.confidence" for m in MODELS),
        ]
    )
    query = f"select {select} from read_json(?, columns={columns!r}, format='newline_delimited')"  # noqa: S608 - our own constants
    return duckdb.connect().execute(query, [str(path)]).fetchnumpy()


def best(reader: Callable[[Path], object], path: Path) -> tuple[float, float]:
    """Return (wall, CPU) seconds of one call; CPU counts every thread of the process."""
    wall, cpu = time.perf_counter(), time.process_time()
    reader(path)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Time each installed decoder against the json.loads loop and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    readers: dict[str, Callable[[Path], object]] = {
        "read_trades (contract checked)": ours,
        "msgspec decode only (the floor of a per-record reader)": msgspec_floor,
    }
    if importlib.util.find_spec("pyarrow"):
        readers["pyarrow.json, 2 threads, columns + stamps"] = pyarrow_reader(threads=True)
        readers["pyarrow.json, 1 thread, columns + stamps"] = pyarrow_reader(threads=False)
    if importlib.util.find_spec("polars"):
        readers["polars.read_ndjson"] = polars_reader
    if importlib.util.find_spec("duckdb"):
        readers["duckdb read_json, columns + stamps"] = duckdb_reader
    with tempfile.TemporaryDirectory() as scratch:
        path = write_example_trades(Path(scratch) / "clm_trades.jsonl", n_trades=args.trades)
        rows: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, reader in readers.items():
                loop_wall, loop_cpu = best(json_loop, path)
                wall, cpu = best(reader, path)
                rows[name].append((wall / loop_wall, cpu / loop_cpu, wall, loop_wall))
    print(f"{args.trades:,} dialect-C trades; ratio = reader / json.loads loop, same run")
    print("| reader | wall ratio (best) | CPU ratio (best) |")
    print("|---|---:|---:|")
    for name, measured in rows.items():
        wall_ratio = min(r[0] for r in measured)
        cpu_ratio = min(r[1] for r in measured)
        print(f"| {name} | {wall_ratio:.2f}x | {cpu_ratio:.2f}x |")


if __name__ == "__main__":
    main()
