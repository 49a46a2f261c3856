"""Make untrusted text safe to show: on a terminal, in a log line or in a Markdown table."""

# Pure: imports nothing outside the standard library's ``re``.
#
# Symbols, model names, field names and reasons come from files and APIs we do
# not control. Before any of them reaches an operator's terminal or the review
# report, every view passes it through `escape` (or `markdown_cell`), so that a
# crafted value cannot move the cursor, clear a line, recolour the screen,
# reverse the text direction or start a new line that looks like our own
# output ("Problems: none").

from __future__ import annotations

import re

__all__ = ["escape", "escape_controls", "markdown_cell"]

# C0 controls (newline and tab included), DEL, the C1 controls U+0080-U+009F
# (U+009B is a one-byte CSI on some terminals), the bidirectional embeddings,
# overrides and isolates, the implicit direction marks, the Unicode line and
# paragraph separators, and lone surrogates (which cannot even be encoded).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# The same set without the newline, for whole documents whose lines are ours.
_UNSAFE_KEEP_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"  # noqa: PLR2004 - Latin-1


def escape(text: object) -> str:
    r"""Return ``text`` as one line of inert characters.

    Parameters
    ----------
    text : object
        Untrusted text (anything else is converted with ``str``).

    Returns
    -------
    str
        The text with every control character, bidirectional control, line
        separator and lone surrogate replaced by a visible escape (``\n``,
        ``\x1b``, ``\x9b``, ``\u202e``, ``\ud800``). Printable text,
        including non-Latin scripts and emoji, is unchanged.

    Examples
    --------
    >>> escape("BTC\n   Problems: none\x1b[2K")
    'BTC\\n   Problems: none\\x1b[2K'
    """
    return _UNSAFE.sub(_visible, str(text))


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
    return _UNSAFE_KEEP_NEWLINE.sub(_visible, text)


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
