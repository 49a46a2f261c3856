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

__all__ = ["escape", "escape_controls", "markdown_cell"]

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
