"""Pre-flight probes: checklist phase 0.1, declared in TOML, run by ``check`` and ``run``."""

# Shell module: it reads a TOML file, runs commands (never through a shell) and
# asks HTTP endpoints. Every probe is bounded by its own timeout and its output
# by a byte cap; nothing a probe does (a missing command, a hang, a flood of
# output, a bad answer) raises: it is a failed probe with a one-line reason.
# Only a malformed probe FILE is an error, because then nothing can be checked.

from __future__ import annotations

import math
import os
import re
import selectors
import signal
import subprocess
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from calibration_core.exceptions import InvalidInputError
from calibration_core.sources.cadence import get_json
from calibration_core.text import escape

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_PREFLIGHT",
    "KINDS",
    "Preflight",
    "Probe",
    "ProbeResult",
    "load_probes",
    "preflight_path",
    "run_preflight",
    "run_probe",
    "skipped_preflight",
]

ENV_PREFLIGHT: Final = "CALIBRATION_PREFLIGHT"
"""Environment variable naming the probe file when ``--preflight`` is not given."""
DEFAULT_TIMEOUT: Final = 5.0
"""Seconds a probe may take when its ``timeout`` is not given."""
MAX_TIMEOUT: Final = 300.0
"""Longest timeout a probe may declare."""
KINDS: Final = ("command", "no_match", "http_json")
"""The probe kinds: exit 0; exit 0 and no output line matching; a JSON field's value."""

_MAX_OUTPUT_BYTES: Final = 1024 * 1024  # kept per probe; the rest is read and dropped
_MAX_FILE_BYTES: Final = 1024 * 1024
_READ_CHUNK: Final = 65536
_KEYS: Final = {
    "command": frozenset({"name", "kind", "command", "timeout"}),
    "no_match": frozenset({"name", "kind", "command", "pattern", "ignore_case", "timeout"}),
    "http_json": frozenset({"name", "kind", "url", "field", "equals", "not_equals", "timeout"}),
}
_PROBE_HEADER: Final = re.compile(r"^\s*\[\[\s*probe\s*\]\]")
_SCALAR: Final = (str, int, float, bool)


@attrs.frozen
class Probe:
    """One declared probe.

    ``command`` is the argv of ``command`` and ``no_match`` probes; ``pattern``
    the regular expression no output line of a ``no_match`` probe may match;
    ``url``, ``field`` (a dotted path) and exactly one of ``equals`` /
    ``not_equals`` describe an ``http_json`` probe. ``line`` is where the probe
    starts in its file.
    """

    name: str
    kind: str
    timeout: float
    line: int
    command: tuple[str, ...] = ()
    pattern: str | None = None
    ignore_case: bool = False
    url: str | None = None
    field: str | None = None
    expected: str | int | float | bool | None = None
    must_equal: bool = True


@attrs.frozen
class ProbeResult:
    """What one probe found: passed or not, and one line saying why."""

    name: str
    kind: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready result."""
        return attrs.asdict(self)


@attrs.frozen
class Preflight:
    """The pre-flight verdict: every probe's result, or that the probes were skipped."""

    source: str
    results: tuple[ProbeResult, ...]
    skipped: bool = False

    @property
    def passed(self) -> bool:
        """True when the probes ran and every one passed."""
        return not self.skipped and all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[ProbeResult, ...]:
        """The probes that failed, in file order."""
        return tuple(r for r in self.results if not r.passed)

    @property
    def reason(self) -> str:
        """One line for the readiness verdict."""
        if self.skipped:
            return f"pre-flight probes in {self.source} skipped (--force)"
        failures = self.failures
        if not failures:
            return f"pre-flight: {len(self.results)}/{len(self.results)} probes passed"
        first = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return f"pre-flight probe '{first.name}' failed: {first.detail}{more}"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready verdict."""
        return {
            "source": self.source,
            "skipped": self.skipped,
            "passed": self.passed,
            "reason": self.reason,
            "probes": [r.to_dict() for r in self.results],
        }


# --------------------------------------------------------------------------- the file


# An untrusted text (a probe's output line, a TOML value) is cut at 300 characters.
def _shown(text: str) -> str:
    return escape(text, limit=300)


def preflight_path(flag: str | os.PathLike[str] | None) -> Path | None:
    """Return the probe file: ``flag`` when given, else ``$CALIBRATION_PREFLIGHT``, else None.

    Parameters
    ----------
    flag : str or path-like or None
        The ``--preflight FILE`` argument.

    Returns
    -------
    Path or None
        None when neither is set (or the variable is empty): no probes.
    """
    if flag is not None and str(flag) != "":
        return Path(flag).absolute()
    value = os.environ.get(ENV_PREFLIGHT, "").strip()
    return Path(value).absolute() if value else None


def _probe_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1) if _PROBE_HEADER.match(line)]


def load_probes(path: Path) -> tuple[Probe, ...]:
    """Read and check a probe file.

    Parameters
    ----------
    path : Path
        A TOML file holding ``[[probe]]`` tables (see ``docs/preflight.md``).

    Returns
    -------
    tuple of Probe
        In file order; at least one.

    Raises
    ------
    InvalidInputError
        One line naming the file and the line: unreadable file, TOML syntax
        (tomllib's line and column), unknown key or kind, missing or mistyped
        field, bad regular expression, duplicate name, bad timeout.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"preflight file {path}: cannot read it ({exc.strerror or exc})"
        raise InvalidInputError(msg) from None
    if len(data) > _MAX_FILE_BYTES:
        msg = f"preflight file {path}: larger than {_MAX_FILE_BYTES} bytes"
        raise InvalidInputError(msg)
    try:
        text = data.decode("utf-8")
        document = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        msg = f"preflight file {path}: not UTF-8 (byte {exc.start})"
        raise InvalidInputError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        said = str(exc)
        if said.endswith("(at end of document)"):  # tomllib names no line there: the last one
            said = f"{said[:-1]}, line {max(len(text.splitlines()), 1)})"
        msg = f"preflight file {path}: {_shown(said)}"
        raise InvalidInputError(msg) from None
    unknown = sorted(set(document) - {"probe"})
    if unknown:
        msg = f"preflight file {path}: unknown top-level key {unknown[0]!r} (expected [[probe]])"
        raise InvalidInputError(msg)
    tables = document.get("probe")
    if not isinstance(tables, list) or not tables:
        msg = f"preflight file {path}: no [[probe]] tables"
        raise InvalidInputError(msg)
    lines = _probe_lines(text)
    probes: list[Probe] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        line = lines[index] if index < len(lines) else 0
        where = f"preflight file {path}{f':{line}' if line else ''}: probe {index + 1}"
        probe = _parse_probe(table, where, line)
        if probe.name in seen:
            msg = (
                f"{where}: the name {probe.name!r} is used twice (first at line {seen[probe.name]})"
            )
            raise InvalidInputError(msg)
        seen[probe.name] = line
        probes.append(probe)
    return tuple(probes)


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        msg = f"{where}: {key!r} must be a non-empty string"
        raise InvalidInputError(msg)
    if escape(value) != value:
        msg = f"{where}: {key!r} holds control characters"
        raise InvalidInputError(msg)
    return value


def _parse_probe(table: object, where: str, line: int) -> Probe:
    if not isinstance(table, dict):
        msg = f"{where}: not a table"
        raise InvalidInputError(msg)
    kind = table.get("kind")
    if kind not in _KEYS:
        msg = f"{where}: 'kind' must be one of {', '.join(KINDS)} (got {kind!r})"
        raise InvalidInputError(msg)
    name = _text(table, "name", where)
    where = f"{where} ({name})"
    extra = sorted(set(table) - _KEYS[kind])
    if extra:
        msg = f"{where}: unknown key {extra[0]!r} for a {kind} probe"
        raise InvalidInputError(msg)
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        msg = f"{where}: 'timeout' must be a number of seconds in (0, {MAX_TIMEOUT:g}]"
        raise InvalidInputError(msg)
    if kind == "http_json":
        return _parse_http(table, where, name=name, timeout=float(timeout), line=line)
    return _parse_command(table, where, name=name, kind=kind, timeout=float(timeout), line=line)


def _parse_command(
    table: Mapping[str, Any], where: str, *, name: str, kind: str, timeout: float, line: int
) -> Probe:
    command = table.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(word, str) for word in command)
        or not command[0]
    ):
        msg = f"{where}: 'command' must be a non-empty list of strings (argv; no shell)"
        raise InvalidInputError(msg)
    if any("\0" in word for word in command):
        msg = f"{where}: 'command' holds a NUL character"
        raise InvalidInputError(msg)
    if kind == "command":
        return Probe(name, kind, timeout, line, command=tuple(command))
    pattern = _text(table, "pattern", where)
    ignore_case = table.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        msg = f"{where}: 'ignore_case' must be true or false"
        raise InvalidInputError(msg)
    try:
        re.compile(pattern)
    except re.error as exc:
        msg = f"{where}: 'pattern' is not a regular expression ({exc})"
        raise InvalidInputError(msg) from None
    return Probe(
        name,
        kind,
        timeout,
        line,
        command=tuple(command),
        pattern=pattern,
        ignore_case=ignore_case,
    )


def _parse_http(
    table: Mapping[str, Any], where: str, *, name: str, timeout: float, line: int
) -> Probe:
    url = _text(table, "url", where)
    if not url.startswith(("http://", "https://")):
        msg = f"{where}: 'url' must start with http:// or https://"
        raise InvalidInputError(msg)
    field = _text(table, "field", where)
    if any(not part for part in field.split(".")):
        msg = f"{where}: 'field' must be a dotted path such as status or risk.mode"
        raise InvalidInputError(msg)
    given = [key for key in ("equals", "not_equals") if key in table]
    if len(given) != 1:
        msg = f"{where}: give exactly one of 'equals' and 'not_equals'"
        raise InvalidInputError(msg)
    expected = table[given[0]]
    if not isinstance(expected, _SCALAR):
        msg = f"{where}: {given[0]!r} must be a string, number or boolean"
        raise InvalidInputError(msg)
    return Probe(
        name,
        "http_json",
        timeout,
        line,
        url=url,
        field=field,
        expected=expected,
        must_equal=given[0] == "equals",
    )


# --------------------------------------------------------------------------- running


def skipped_preflight(path: Path) -> Preflight:
    """Check the probe file and return the verdict of probes that ``--force`` did not run.

    Parameters
    ----------
    path : Path
        The probe file; it is read and checked, so a typo is not hidden by ``--force``.

    Returns
    -------
    Preflight
        ``skipped`` is True and there are no results.

    Raises
    ------
    InvalidInputError
        The file is malformed (see :func:`load_probes`).
    """
    load_probes(path)
    return Preflight(source=str(path), results=(), skipped=True)


def run_preflight(path: Path) -> Preflight:
    """Load the probes in ``path`` and run each in file order.

    Parameters
    ----------
    path : Path
        The probe file.

    Returns
    -------
    Preflight
        Every probe's result. A probe that fails, hangs past its timeout or
        cannot start is a failed result, never an exception.

    Raises
    ------
    InvalidInputError
        The file is malformed (see :func:`load_probes`).
    """
    probes = load_probes(path)
    return Preflight(source=str(path), results=tuple(run_probe(p) for p in probes))


def run_probe(probe: Probe) -> ProbeResult:
    """Run one probe within its timeout and say whether it passed.

    Parameters
    ----------
    probe : Probe
        A probe from :func:`load_probes`.

    Returns
    -------
    ProbeResult
        ``detail`` is the first output line (a command), the first matching
        line (``no_match``) or the value found (``http_json``); on failure
        it says why, escaped for a terminal.
    """
    if probe.kind == "http_json":
        return _run_http(probe)
    ran = _run_command(probe.command, probe.timeout)
    if ran.failure is not None:
        return ProbeResult(probe.name, probe.kind, passed=False, detail=ran.failure)
    first = _first_line(ran.output)
    exited = f"exit {ran.exit_code}" + (f": {first}" if first else "")
    if probe.kind == "command":
        return ProbeResult(probe.name, probe.kind, passed=ran.exit_code == 0, detail=exited)
    passed, detail = _judge_no_match(probe, ran, exited)
    return ProbeResult(probe.name, probe.kind, passed=passed, detail=detail)


def _judge_no_match(probe: Probe, ran: _Ran, exited: str) -> tuple[bool, str]:
    flags = re.IGNORECASE if probe.ignore_case else 0
    pattern = re.compile(probe.pattern or "", flags)
    matched = next((ln for ln in ran.output.splitlines() if pattern.search(ln)), None)
    if matched is not None:
        return False, f"output matches {probe.pattern!r}: {_shown(matched.strip())}"
    if ran.exit_code != 0:
        return False, exited
    if ran.truncated:
        # A gate that could not read all the output cannot say that no line matches.
        return False, f"output over 1 MiB: cannot show that no line matches {probe.pattern!r}"
    return True, f"no line matches {probe.pattern!r}"


def _first_line(output: str) -> str:
    for line in output.splitlines():
        if line.strip():
            return _shown(line.strip())
    return ""


@attrs.frozen
class _Ran:
    output: str
    exit_code: int | None
    truncated: bool
    failure: str | None


def _kill(process: subprocess.Popen[bytes]) -> None:
    # The whole group, also after the leader exited: a child it left in the background
    # must not outlive the probe. The group id stays valid while any member lives.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        if process.returncode is None:
            process.kill()
    if process.returncode is None:
        process.wait()


def _run_command(argv: tuple[str, ...], timeout: float) -> _Ran:
    """Run ``argv`` (no shell), capture at most 1 MiB of its output, stop it at ``timeout``."""
    shown = escape(argv[0], limit=80)
    process = _start(argv, shown)
    if isinstance(process, str):
        return _Ran("", None, truncated=False, failure=process)
    deadline = time.monotonic() + timeout
    late = f"no result within {timeout:g} s (killed)"
    try:
        collected = _collect(process, deadline)
        if collected is None:
            return _Ran("", None, truncated=False, failure=late)
        try:
            code = process.wait(max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired:
            return _Ran("", None, truncated=False, failure=late)
    except OSError as exc:  # reading the pipe failed: the probe failed, nothing crashes
        return _Ran("", None, truncated=False, failure=f"cannot read {shown}'s output ({exc})")
    finally:
        if process.stdout is not None:
            process.stdout.close()
        _kill(process)
    output, truncated = collected
    return _Ran(output.decode("utf-8", "replace"), code, truncated, None)


def _start(argv: tuple[str, ...], shown: str) -> subprocess.Popen[bytes] | str:
    """Start ``argv`` in its own process group; or say, in one line, why it cannot start."""
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        return f"command not found: {shown}"
    except PermissionError:
        return f"command not executable: {shown}"
    except OSError as exc:
        return f"cannot run {shown}: {exc.strerror or exc}"


def _collect(process: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bool] | None:
    """Read the output until EOF, keeping 1 MiB; None when ``deadline`` passes first."""
    if process.stdout is None:  # pragma: no cover - stdout=PIPE in _run_command
        return b"", False
    kept = bytearray()
    truncated = False
    stream = process.stdout.fileno()
    os.set_blocking(stream, False)
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not selector.select(left):
                continue
            try:
                chunk = os.read(stream, _READ_CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                return bytes(kept), truncated
            room = _MAX_OUTPUT_BYTES - len(kept)
            truncated = truncated or len(chunk) > room
            kept += chunk[: max(room, 0)]


def _lookup(value: object, field: str) -> tuple[bool, object]:
    """Follow a dotted path through objects (keys) and arrays (indices)."""
    for part in field.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _same(found: object, expected: object) -> bool:
    # JSON true is not 1 and "1" is not 1: compare like with like.
    if isinstance(found, bool) or isinstance(expected, bool):
        return isinstance(found, bool) and isinstance(expected, bool) and found == expected
    if isinstance(found, int | float) and isinstance(expected, int | float):
        return found == expected
    return type(found) is type(expected) and found == expected


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(escape(value, limit=80))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return escape(repr(value), limit=40)
    return f"a JSON {'object' if isinstance(value, dict) else 'array'}"


def _run_http(probe: Probe) -> ProbeResult:
    url, field = probe.url or "", probe.field or ""
    answer, problem = get_json(url, timeout=probe.timeout)
    if problem is not None:
        return ProbeResult(probe.name, probe.kind, passed=False, detail=problem)
    found, value = _lookup(answer, field)
    if not found:
        detail = f"{url} answer has no field {field!r}"
        return ProbeResult(probe.name, probe.kind, passed=False, detail=detail)
    same = _same(value, probe.expected)
    passed = same if probe.must_equal else not same
    relation = "=" if same else "≠"
    detail = f"{field} = {_show(value)} ({relation} {_show(probe.expected)})"
    if not passed:
        wanted = "must equal" if probe.must_equal else "must not equal"
        detail = f"{field} = {_show(value)}, {wanted} {_show(probe.expected)}"
    return ProbeResult(probe.name, probe.kind, passed=passed, detail=detail)
