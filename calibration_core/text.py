"""Make untrusted text safe to show: on a terminal, in a log line or in a Markdown table."""

# Pure: imports nothing outside the standard library's ``unicodedata``.
#
# Symbols, model names, field names and reasons come from files and APIs we do
# not control. Before any of them reaches an operator's terminal or the review
# report, every view passes it through `escape` (or `markdown_cell`), so that a
# crafted value cannot move the cursor, clear a line, recolour the screen,
# reverse the text direction or start a new line that looks like our own
# output ("Problems: none").

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "escape",
    "escape_controls",
    "fmt_number",
    "fmt_pct",
    "markdown_cell",
    "markdown_table",
    "plural",
]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _is_unsafe(char: str) -> bool:
    # Not printable means a control (C0, DEL, C1 such as U+009B, a one-byte CSI on
    # some terminals), a format character (bidirectional embeddings, overrides,
    # isolates and marks, zero-width characters), a surrogate, a private-use or
    # unassigned code point, or a line/paragraph separator. Spaces (Zs) are
    # harmless and stay.
    return not char.isprintable() and unicodedata.category(char) != "Zs"


def _visible(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:  # noqa: PLR2004 - Latin-1
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"  # noqa: PLR2004 - BMP


def escape(text: object, *, limit: int | None = None) -> str:
    r"""Return ``text`` as one line of inert characters.

    Parameters
    ----------
    text : object
        Untrusted text (anything else is converted with ``str``).
    limit : int, optional
        Characters kept; a longer text is cut and says how many were left out.

    Returns
    -------
    str
        The text with every control character, format character (bidirectional
        controls and zero-width characters included), line separator, private-use
        or unassigned code point and lone surrogate replaced by a visible escape
        (``\n``, ``\x1b``, ``\x9b``, ``\u202e``, ``\ud800``). Printable text,
        including non-Latin scripts and emoji, is unchanged.

    Examples
    --------
    >>> escape("BTC\n   Problems: none\x1b[2K")
    'BTC\\n   Problems: none\\x1b[2K'
    >>> escape("abcdef", limit=3)
    'abc… (3 more characters)'
    """
    whole = str(text)
    shown = whole if limit is None else whole[:limit]
    if not shown.isprintable():
        shown = "".join(_visible(c) if _is_unsafe(c) else c for c in shown)
    if limit is not None and len(whole) > limit:
        shown += f"… ({len(whole) - limit} more characters)"
    return shown


def escape_controls(text: str) -> str:
    """Escape what `escape` escapes except the newline, for a whole multi-line document.

    Parameters
    ----------
    text : str
        Output whose line structure is ours (a view, a report); the untrusted
        pieces in it must already have been passed through `escape`.

    Returns
    -------
    str
        The text with its newlines kept and everything else unsafe escaped.
    """
    return "\n".join(escape(line) for line in text.split("\n"))


def markdown_cell(text: object) -> str:
    r"""Return untrusted text safe for one Markdown table cell.

    Parameters
    ----------
    text : object
        Untrusted text (anything else is converted with ``str``).

    Returns
    -------
    str
        `escape` of the text with ``|`` written as ``\|``, so a value can
        neither end the row nor split the cell.
    """
    return escape(text).replace("|", "\\|")


# --------------------------------------------------------------------------- formatting
# The one home of the small number formatters every view uses; a missing value (None)
# prints as ``missing`` so a table keeps its columns.


def fmt_number(value: float | None, digits: int = 4, *, missing: str = "—") -> str:
    """Return ``value`` with ``digits`` decimals, or ``missing`` for None.

    Parameters
    ----------
    value : float or None
        The number to show.
    digits : int, optional
        Decimals (default 4).
    missing : str, optional
        What None prints as (default an em dash).

    Returns
    -------
    str
        For example ``fmt_number(0.123456) == "0.1235"``.
    """
    return missing if value is None else f"{value:.{digits}f}"


def fmt_pct(
    value: float | None, digits: int = 1, *, signed: bool = False, missing: str = "—"
) -> str:
    """Return a fraction as a percentage (``0.125 -> "12.5%"``), or ``missing`` for None.

    Parameters
    ----------
    value : float or None
        A fraction (1.0 is 100 %).
    digits : int, optional
        Decimals of the percentage (default 1).
    signed : bool, optional
        Always show the sign (``+12.5%``).
    missing : str, optional
        What None prints as (default an em dash).

    Returns
    -------
    str
        The percentage text.
    """
    if value is None:
        return missing
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def plural(count: int, noun: str) -> str:
    """Return ``"1 trade"`` or ``"3 trades"``: the count and the noun, plural when needed."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Return the lines of a Markdown table; every cell passes through `markdown_cell`.

    Parameters
    ----------
    header : sequence of str
        The column titles (our own text, written as given).
    rows : iterable of sequences
        One sequence of cell values per row; values are untrusted and escaped.

    Returns
    -------
    list of str
        The header line, the ``|---|`` rule and one line per row.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(markdown_cell(value) for value in row) + " |" for row in rows)
    return lines
