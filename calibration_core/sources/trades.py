"""Stream the CLM trade log ``clm_trades.jsonl`` into numpy columns: `read_trades`."""

# Shell module: it reads a file. It decides nothing about calibration; it
# enforces the format contract of shared/clm_trades_format.md (trade_contract.py)
# and reports every breach with its line number.
#
# Shape of the reader: each block of lines goes first to the typed fast path
# (trade_blocks.py), which takes it whole or not at all; a block it refuses goes
# through a per-line hot loop with an inlined, deliberately conservative check of
# the common record shape, and one authoritative slow path (``check_record``)
# that states the whole contract and writes the messages. Anything a fast path
# is unsure about goes to the slow path, so the paths can only differ in speed,
# never in what they accept (property tests hold them to that).

from __future__ import annotations

import array
import hashlib
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from calibration_core._arrays import freeze
from calibration_core.config import MODEL_NAME_PATTERN
from calibration_core.constants import NEUTRAL_PNL_BAND_PCT
from calibration_core.core.weights import ACTION_BUY, ACTION_HOLD, ACTION_MISSING, ACTION_SELL
from calibration_core.exceptions import DataIntegrityError, InvalidInputError
from calibration_core.fsio import MAX_LINE_BYTES, NotRegularFileError, open_regular_file
from calibration_core.sources.trade_batch import TradeBatch
from calibration_core.sources.trade_blocks import feed_block_typed
from calibration_core.sources.trade_contract import (
    ABSENT,
    EPOCH_MAX,
    EPOCH_MIN,
    FLOAT_COLUMNS,
    FLOAT_MAX,
    INT16_MAX,
    INT_COLUMNS,
    MAX_ABS_PNL_PCT,
    MIN_TIMESTAMP_CHARS,
    NAIVE_EPOCH,
    OUTCOME_CODES,
    SIDE_CODES,
    VOTE_OFFSETS,
    NonFinite,
    check_record,
    model_name_warning,
    object_hook,
    zero_pnl_warning,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Reader", "read_trades"]

_ZONELESS_SHOWN: Final = 5
_VOTE_ACTIONS = np.array([ACTION_HOLD, ACTION_BUY, ACTION_SELL, ACTION_MISSING], dtype=np.int8)
_BLOCK_BYTES: Final = 1 << 20
_MAX_LINE: Final = MAX_LINE_BYTES
_LINE_TOO_LONG: Final = f"line is longer than {MAX_LINE_BYTES // (1 << 20)} MiB (skipped)"
# The TradeBatch dtypes of the int columns (the vote count is only used here).
_INT_DTYPES = (np.int64, np.int32, np.int8, np.int32, np.int16, np.int64, np.int8)


class _SlowPath(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the hot loop when a line needs the authoritative slow path."""


# Everything the hot loop's fast path may raise on a line it does not take.
_FAST_PATH_MISSES = (
    _SlowPath,
    StopIteration,
    ValueError,
    KeyError,
    TypeError,
    RecursionError,
    OverflowError,
)


class _Rows:
    """Rows of one dtype, appended block by block into one numpy buffer that doubles when full.

    numpy asks the kernel for huge pages on large buffers, so filling this costs
    a few page faults where an ``array.array`` growing by ``frombytes`` takes
    one per 4 KiB (about 6 % of the typed path's time). The reader sizes it
    for the whole file at the first block, so it is one large allocation that
    goes back to the system when freed, not a trail of doublings that leaves
    the heap fragmented (about 40 MB more resident after a 10^6-trade file).
    """

    __slots__ = ("data", "size")

    def __init__(self, dtype: type[np.generic], width: int = 0) -> None:
        self.data: npt.NDArray[Any] = np.empty((0, width) if width else (0,), dtype=dtype)
        self.size = 0

    def extend(self, rows: npt.NDArray[Any], expected: int = 0) -> None:
        """Append ``rows`` (of this buffer's width); if it must grow, make room for ``expected``."""
        end = self.size + len(rows)
        if end > len(self.data):
            grown = np.empty(
                (max(end, 2 * len(self.data), 4096, expected), *self.data.shape[1:]),
                self.data.dtype,
            )
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = rows
        self.size = end

    def rows(self) -> npt.NDArray[Any]:
        """Return the rows appended so far (a view)."""
        return self.data[: self.size]


class Reader:
    """Accumulates columns while lines are fed to it; ``batch()`` turns them into a TradeBatch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[str] = []
        self.warnings: list[str] = []
        # One row is appended as 6 ints and 6 floats: two calls instead of
        # twelve, and memory that grows with the data, not with objects.
        self.ints = array.array("q")
        self.floats = array.array("d")
        # Votes are stored sparsely (a count per row, then packed codes and
        # confidences), so a model that first appears late, or skips trades,
        # costs nothing until the dense (n, M) arrays are built at the end.
        self.votes = array.array("i")
        self.vote_confidence = array.array("d")
        # The typed block path appends whole blocks of the same rows here; the
        # rows of the per-line path above are moved after them before the next
        # block (``add_block``), so the file order holds.
        self.block_ints = _Rows(np.int64, INT_COLUMNS)
        self.block_floats = _Rows(np.float64, FLOAT_COLUMNS)
        self.block_votes = _Rows(np.int32)
        self.block_vote_confidence = _Rows(np.float64)
        self.expected_bytes = 0  # the file's size, once known: how large the buffers grow
        self.symbols: dict[str, int] = {}
        self.versions: dict[str | None, int] = {None: -1}
        self.model_bases: dict[str, int] = {}
        # Zone-less close times (dialect B) are read as UTC and reported once.
        self.zoneless = array.array("q")
        self.nonfinite_seen: list[str] = []
        # Keys repeated inside one object of the line being decoded: json keeps
        # the last silently, which would let a second "side" flip a trade.
        self.duplicates_seen: list[str] = []
        self.decoder = json.JSONDecoder(
            parse_constant=self._nonfinite,
            object_pairs_hook=object_hook(self.duplicates_seen),
        )

    def _nonfinite(self, token: str) -> NonFinite:
        self.nonfinite_seen.append(token)
        return NonFinite(token)

    def report(self, lineno: int, reasons: list[str]) -> None:
        """Record the problems of one line."""
        self.problems.append(f"{self.name}:{lineno}: {'; '.join(reasons)}")

    def parses(self, line: str) -> bool:
        """Whether ``line`` is one complete JSON value."""
        try:
            self.decoder.decode(line)
        except (ValueError, RecursionError):
            parsed = False
        else:
            parsed = True
        self.nonfinite_seen.clear()
        self.duplicates_seen.clear()
        return parsed

    def feed(self, lines: list[str], lineno: int) -> None:  # noqa: C901, PLR0912, PLR0915
        """Check and append ``lines``, the first of which is line ``lineno + 1``."""
        # Everything the loop touches is bound to a local: attribute and
        # global look-ups are a measurable share of the per-line cost.
        scan = self.decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
        nonfinite_seen = self.nonfinite_seen
        duplicates_seen = self.duplicates_seen
        epoch_min, epoch_max = EPOCH_MIN, EPOCH_MAX
        pnl_max = MAX_ABS_PNL_PCT
        fromiso = datetime.fromisoformat
        fmax = FLOAT_MAX
        int16_max = INT16_MAX
        nan = math.nan
        absent = ABSENT
        side_codes = SIDE_CODES
        outcome_codes = OUTCOME_CODES
        vote_offsets = VOTE_OFFSETS
        naive_epoch = NAIVE_EPOCH
        symbols, versions, model_bases = self.symbols, self.versions, self.model_bases
        warnings = self.warnings
        zoneless_append = self.zoneless.append
        ints_extend = self.ints.extend
        floats_extend = self.floats.extend
        votes, vote_confidence = self.votes, self.vote_confidence
        vote_append, vconf_append = votes.append, vote_confidence.append
        n_votes = len(votes)

        for line in lines:
            lineno += 1
            # The fast path: the common, clean record. Any doubt raises one of
            # _FAST_PATH_MISSES (a dict subscript that misses, a comparison
            # with a non-number, fromisoformat on a non-string, a new symbol or
            # model) and the line goes to the slow path, which decides.
            try:
                record, end = scan(line, 0)
                if end != len(line) or nonfinite_seen or duplicates_seen:
                    raise _SlowPath
                text = record["timestamp"]
                stamp = fromiso(text)
                zoneless = stamp.tzinfo is None
                if zoneless:
                    if len(text) < MIN_TIMESTAMP_CHARS:
                        raise _SlowPath
                    epoch = (stamp - naive_epoch).total_seconds()
                else:
                    epoch = stamp.timestamp()
                if not epoch_min <= epoch <= epoch_max:
                    raise _SlowPath
                get = record.get
                symbol = symbols[record["symbol"]]
                side = get("side", absent)
                side = side_codes[record["action"] if side is absent else side]
                conf = record["confidence"]
                entry = record["entry_price"]
                exit_ = record["exit_price"]
                pnl = get("actual_pnl_pct", absent)
                if pnl is absent:
                    pnl = record["pnl_percent"]
                    pnl_field = "pnl_percent"
                elif "pnl_percent" in record:
                    raise _SlowPath  # both names: the slow path compares them
                else:
                    pnl_field = "actual_pnl_pct"
                outcome = outcome_codes[get("outcome_label")]
                if not (
                    type(conf) is float
                    and 0.0 <= conf <= 1.0
                    and type(entry) is float
                    and 0.0 < entry <= fmax
                    and type(exit_) is float
                    and 0.0 < exit_ <= fmax
                    and type(pnl) is float
                    and -pnl_max <= pnl <= pnl_max
                ):
                    raise _SlowPath
                consensus = get("consensus_count", absent)
                if consensus is absent:
                    consensus = -1
                elif type(consensus) is not int or not 0 <= consensus <= int16_max:
                    raise _SlowPath
                calibrated = get("calibrated_confidence", absent)
                if calibrated is absent:
                    calibrated = nan
                elif type(calibrated) is not float or not 0.0 <= calibrated <= 1.0:
                    raise _SlowPath
                version = versions[get("calibration_version")]
                breakdown = get("model_breakdown", absent)
                if breakdown is absent:
                    breakdown = get("model_predictions", absent)
                row_votes = 0
                if breakdown is not absent:
                    if type(breakdown) is not dict:
                        raise _SlowPath
                    for model, vote in breakdown.items():
                        vconf = vote["confidence"]
                        if type(vconf) is not float or not 0.0 <= vconf <= 1.0:
                            raise _SlowPath
                        vote_append(model_bases[model] + vote_offsets[vote["action"]])
                        vconf_append(vconf)
                    row_votes = len(breakdown)
            except _FAST_PATH_MISSES:
                # Undo the votes this line appended before its miss.
                if len(votes) != n_votes:
                    del votes[n_votes:]
                    del vote_confidence[n_votes:]
                nonfinite_seen.clear()
                duplicates_seen.clear()
                n_votes += self._feed_slow(line, lineno)
                continue
            n_votes += row_votes
            ints_extend((lineno, symbol, side, version, consensus, row_votes, outcome))
            floats_extend((epoch, conf, entry, exit_, pnl, calibrated))
            if zoneless:
                zoneless_append(lineno)
            if pnl == 0.0:
                warnings.append(zero_pnl_warning(self.name, lineno, pnl_field))

    def _decode_slow(self, line: str) -> tuple[str | None, object]:
        """Decode one line, or say why it is not one JSON value without repeated keys."""
        problem: str | None = None
        record: object = None
        if not line.strip():
            problem = "blank line"
        elif line.startswith("\ufeff"):
            problem = "not valid JSON (starts with a byte-order mark, U+FEFF)"
        else:
            try:
                record = self.decoder.decode(line)
            except json.JSONDecodeError as exc:
                # json's own messages may end in "at" ("Unterminated string starting at").
                problem = f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
            except RecursionError:
                problem = "not valid JSON (nested too deeply)"
            except ValueError:
                # int() refuses a literal of more than sys.get_int_max_str_digits() digits.
                limit = sys.get_int_max_str_digits()
                problem = f"not valid JSON (a number has more than {limit} digits)"
            finally:
                self.nonfinite_seen.clear()
                duplicates = list(self.duplicates_seen)
                self.duplicates_seen.clear()
            if problem is None and duplicates:
                problem = "; ".join(f"duplicate key {key!r}" for key in duplicates)
        return problem, record

    def _feed_slow(self, line: str, lineno: int) -> int:
        """Check and append one line the fast path did not take; return how many votes it added."""
        problem, record = self._decode_slow(line)
        if problem is not None:
            self.report(lineno, [problem])
            return 0
        reasons, row = check_record(record)
        if row is None:
            self.report(lineno, reasons)
            return 0
        symbol = self.symbols.setdefault(row.symbol, len(self.symbols))
        version = self.versions.setdefault(row.calibration_version, len(self.versions) - 1)
        for model, action, confidence in row.votes:
            if model not in self.model_bases and not MODEL_NAME_PATTERN.fullmatch(model):
                self.warnings.append(model_name_warning(self.name, lineno, model))
            base = self.model_bases.setdefault(model, 4 * len(self.model_bases))
            self.votes.append(base + VOTE_OFFSETS[action])
            self.vote_confidence.append(confidence)
        self.ints.extend(
            (lineno, symbol, row.side, version, row.consensus_count, len(row.votes), row.outcome)
        )
        if row.zoneless:
            self.zoneless.append(lineno)
        self.floats.extend(
            (
                row.timestamp,
                row.confidence,
                row.entry_price,
                row.exit_price,
                row.pnl_pct,
                row.calibrated_confidence,
            )
        )
        if row.pnl_pct == 0.0:
            self.warnings.append(zero_pnl_warning(self.name, lineno, row.pnl_field))
        return len(row.votes)

    def _row_count(self) -> int:
        return self.block_ints.size + len(self.ints) // INT_COLUMNS

    def _move_lines(self) -> None:
        """Move the per-line path's rows to the end of the block buffers."""
        if self.ints:
            self.block_ints.extend(np.frombuffer(self.ints, np.int64).reshape(-1, INT_COLUMNS))
            self.block_floats.extend(
                np.frombuffer(self.floats, np.float64).reshape(-1, FLOAT_COLUMNS)
            )
            self.ints, self.floats = array.array("q"), array.array("d")
        if self.votes:
            self.block_votes.extend(np.frombuffer(self.votes, np.int32))
            self.block_vote_confidence.extend(np.frombuffer(self.vote_confidence, np.float64))
            self.votes, self.vote_confidence = array.array("i"), array.array("d")

    def add_block(
        self,
        ints: npt.NDArray[np.int64],
        floats: npt.NDArray[np.float64],
        votes: npt.NDArray[np.int32] | None = None,
        vote_confidence: npt.NDArray[np.float64] | None = None,
        *,
        block_bytes: int = 0,
    ) -> None:
        """Append the rows of a block taken whole by the typed path, after every earlier row.

        ``block_bytes``, the block's size, scales its rows to the whole file
        (``expected_bytes``) when a buffer must grow.
        """
        self._move_lines()
        # Rows (and votes) expected in the whole file at this block's density, and 5 % more.
        scale = 1.05 * self.expected_bytes / block_bytes if block_bytes else 0.0
        self.block_ints.extend(ints, int(scale * len(ints)))
        self.block_floats.extend(floats, int(scale * len(floats)))
        if votes is not None and vote_confidence is not None:
            self.block_votes.extend(votes, int(scale * len(votes)))
            self.block_vote_confidence.extend(vote_confidence, int(scale * len(votes)))

    def feed_block(self, block: bytes, lineno: int) -> int:
        """Feed the lines of ``block``, which ends with a newline; return the last line number."""
        rows = self._row_count()
        if feed_block_typed(self, block, lineno):
            # It took every line: one row each (no second count of the newlines).
            return lineno + self._row_count() - rows
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            # Rare: find the bad lines one by one so the others are still checked.
            for raw in block.split(b"\n")[:-1]:
                lineno += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.report(lineno, [f"not valid UTF-8 (byte {exc.start + 1})"])
                else:
                    self.feed([line], lineno - 1)
            return lineno
        lines = text.split("\n")
        lines.pop()  # the empty string after the block's final newline
        self.feed(lines, lineno)
        return lineno + len(lines)

    def batch(
        self, *, source: str, data_hash: str, partial: bool, neutral_band_pct: float
    ) -> TradeBatch:
        """Build the TradeBatch from the accumulated columns; the reader is emptied.

        Each row-packed buffer is released as soon as its columns are copied
        out, so the peak holds the columns about twice, not three times.
        """
        self._move_lines()
        ints = self.block_ints.rows()
        n, m = ints.shape[0], len(self.model_bases)
        int_columns = [freeze(ints[:, j].astype(dtype)) for j, dtype in enumerate(_INT_DTYPES)]
        del ints
        self.block_ints = _Rows(np.int64, INT_COLUMNS)
        floats = self.block_floats.rows()
        float_columns = [freeze(floats[:, j].copy()) for j in range(FLOAT_COLUMNS)]
        del floats
        self.block_floats = _Rows(np.float64, FLOAT_COLUMNS)
        packed = self.block_votes.rows()
        rows = np.repeat(np.arange(n, dtype=np.intp), int_columns[5])
        models = packed // 4
        model_actions = np.full((n, m), ACTION_MISSING, dtype=np.int8)
        model_actions[rows, models] = _VOTE_ACTIONS[packed % 4]
        del packed
        self.block_votes = _Rows(np.int32)
        model_confidence = np.full((n, m), np.nan)
        model_confidence[rows, models] = self.block_vote_confidence.rows()
        del rows, models
        self.block_vote_confidence = _Rows(np.float64)
        versions = [v for v in self.versions if v is not None]
        return TradeBatch(
            source=source,
            line_numbers=int_columns[0],
            timestamps=float_columns[0],
            symbol_codes=int_columns[1],
            symbol_names=tuple(self.symbols),
            sides=int_columns[2],
            confidence=float_columns[1],
            entry_price=float_columns[2],
            exit_price=float_columns[3],
            pnl_pct=float_columns[4],
            calibrated_confidence=float_columns[5],
            calibration_version_codes=int_columns[3],
            calibration_version_names=tuple(versions),
            consensus_count=int_columns[4],
            model_names=tuple(self.model_bases),
            model_actions=freeze(model_actions),
            model_confidence=freeze(model_confidence),
            warnings=tuple(self.warnings),
            data_hash=data_hash,
            partial_last_line_ignored=partial,
            neutral_band_pct=neutral_band_pct,
            outcome_labels=int_columns[6],
            zoneless_count=len(self.zoneless),
            zoneless_first_lines=tuple(self.zoneless[:_ZONELESS_SHOWN]),
        )


def _no_progress(done: int) -> None:
    del done  # nobody is watching


def _feed_blocks(
    fd: int,
    size: int,
    reader: Reader,
    progress: Callable[[int], None],
    hash_block: Callable[[bytes], object],
) -> tuple[int, list[bytes], bool]:
    """Feed the complete lines of ``fd`` to ``reader``, block by block; see `_ingest`.

    Returns the last line number, the unterminated tail and whether a line
    over the limit is still open at the end.
    """
    # The start of a line that continues in the next block. Pieces are joined
    # once the line's newline arrives, so a very long line costs linear time.
    pending: list[bytes] = []
    pending_bytes = 0
    too_long = False  # inside a line already known to be over the limit
    lineno = 0
    remaining = size
    while remaining > 0 and (block := os.read(fd, min(_BLOCK_BYTES, remaining))):
        remaining -= len(block)
        progress(size - remaining)
        start = 0
        first = block.find(b"\n")
        if (too_long or pending) and first >= 0 and (too_long or pending_bytes + first > _MAX_LINE):
            # The line carried over from earlier blocks ends here, over the limit.
            lineno += 1
            reader.report(lineno, [_LINE_TOO_LONG])
            pending, pending_bytes, too_long, start = [], 0, False, first + 1
        cut = block.rfind(b"\n") + 1
        if cut <= start:  # no newline in the rest of the block
            if not too_long:
                pending.append(block[start:] if start else block)
                pending_bytes += len(block) - start
                if pending_bytes > _MAX_LINE:
                    pending, pending_bytes, too_long = [], 0, True
            continue
        piece = block[start:cut] if start or cut < len(block) else block
        complete = b"".join([*pending, piece]) if pending else piece
        pending = [block[cut:]] if cut < len(block) else []
        pending_bytes = len(block) - cut
        hash_block(complete)
        lineno = reader.feed_block(complete, lineno)
    return lineno, pending, too_long


def _ingest(
    fd: int, size: int, reader: Reader, progress: Callable[[int], None] = _no_progress
) -> tuple[str, bool]:
    """Feed the first ``size`` bytes of ``fd`` to ``reader``; return the data hash and partial flag.

    ``size`` is the file's size when it was opened: bytes appended while the
    file is read are left for the next run. A line longer than
    ``MAX_LINE_BYTES`` is a numbered problem and is skipped without being held
    in memory.
    """
    reader.expected_bytes = size
    hasher = hashlib.sha256()
    # hashlib lets go of the GIL on large buffers: the blocks are hashed on a
    # second thread, in order, while this one decodes them.
    with ThreadPoolExecutor(1, thread_name_prefix="trades-sha256") as hashing:

        def hash_block(data: bytes) -> None:
            hashing.submit(hasher.update, data)

        lineno, pending, too_long = _feed_blocks(fd, size, reader, progress, hash_block)
    partial = False
    if too_long:
        reader.report(lineno + 1, [_LINE_TOO_LONG])
        return f"sha256:{hasher.hexdigest()}", partial
    tail = b"".join(pending)
    if tail:
        # No newline at the end: a complete record is a trade like any other,
        # anything else is the producer's half-written line.
        try:
            text: str | None = tail.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and reader.parses(text):
            hasher.update(tail)
            reader.feed([text], lineno)
        else:
            partial = True
            reader.warnings.append(
                f"{reader.name}:{lineno + 1}: partial last line ignored "
                "(producer may still be writing)"
            )
    return f"sha256:{hasher.hexdigest()}", partial


def read_trades(
    path: str | os.PathLike[str],
    *,
    neutral_band_pct: float = NEUTRAL_PNL_BAND_PCT,
    progress: Callable[[int], None] | None = None,
) -> TradeBatch:
    """Read a ``clm_trades.jsonl`` file into a TradeBatch, checking every line.

    The file is streamed in blocks into typed columns, so memory grows with
    the column data, not with Python objects.

    Parameters
    ----------
    path : str or os.PathLike
        The trades file. Messages name it by its base name.
    neutral_band_pct : float, optional
        Half-width of the NEUTRAL band on ``actual_pnl_pct``, in percent.
    progress : callable, optional
        Called with the number of bytes read so far after each block (the CLI's
        progress bar on a terminal).

    Returns
    -------
    TradeBatch
        One row per trade, in file order. Its ``warnings`` hold lines that are
        suspect but not wrong (``actual_pnl_pct`` exactly 0.0) and a partial last
        line, which is ignored. An empty file gives an empty batch;
        `summarize_integrity` says what that is missing.

    Raises
    ------
    DataIntegrityError
        If the file cannot be read, or after the whole file has been read, if
        any line breaks the format contract. ``problems`` then holds one entry
        per bad line, ``"clm_trades.jsonl:812: exit_price is null"``, and the
        message is the first one plus how many more there are.
    InvalidInputError
        If ``neutral_band_pct`` is negative or not finite.

    Notes
    -----
    ``data_hash`` is ``"sha256:<hex>"`` of exactly the bytes read as trades,
    which excludes an ignored partial last line, so the hash names the data a
    proposal was computed from.

    A blank line is a problem, except that the file may (and normally does) end
    with a newline. A last line without a newline is a trade if it is complete
    JSON, and ignored with a warning if it is not.
    """
    if not (math.isfinite(neutral_band_pct) and neutral_band_pct >= 0.0):
        raise InvalidInputError(
            f"neutral_band_pct must be a finite number >= 0 (got {neutral_band_pct!r})"
        )
    source = os.fspath(path)
    file = Path(source)
    reader = Reader(file.name or source)
    try:
        fd, size = open_regular_file(file)
        try:
            data_hash, partial = _ingest(fd, size, reader, progress or _no_progress)
        finally:
            os.close(fd)
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"trades file not found: {source}") from exc
    except (IsADirectoryError, NotRegularFileError) as exc:
        if isinstance(exc, IsADirectoryError) or exc.kind == "a directory":
            raise DataIntegrityError(f"trades file is a directory: {source}") from exc
        raise DataIntegrityError(
            f"trades file is not a regular file: {source} (it is {exc.kind}); "
            "point --data at the trades file itself"
        ) from exc
    except PermissionError as exc:
        raise DataIntegrityError(
            f"trades file is not readable: {source} (permission denied)"
        ) from exc
    except OSError as exc:
        raise DataIntegrityError(
            f"cannot read trades file {source}: {exc.strerror or exc}"
        ) from exc
    if reader.problems:
        problems = tuple(reader.problems)
        more = len(problems) - 1
        message = problems[0]
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise DataIntegrityError(message, problems=problems)
    return reader.batch(
        source=source, data_hash=data_hash, partial=partial, neutral_band_pct=neutral_band_pct
    )
