"""The text of a config file (ours or legacy): its size, its encoding, its JSON."""

# Parsing only: imports json and the contract's exceptions. It reads no file; the
# loader and the deployer hand it the bytes they read.

from __future__ import annotations

import json
from typing import Any

from calibration_core.exceptions import ConfigRejectedError

__all__ = ["MAX_CONFIG_BYTES", "decode_config_json"]

MAX_CONFIG_BYTES = 1_048_576
"""A config file larger than this (1 MiB) is rejected before parsing."""

_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian, with a byte-order mark)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian, with a byte-order mark)"),
    (b"\xef\xbb\xbf", "UTF-8 with a byte-order mark"),
    (b"\xfe\xff", "UTF-16 (big-endian, with a byte-order mark)"),
    (b"\xff\xfe", "UTF-16 (little-endian, with a byte-order mark)"),
)
_ENCODING_NAMES = {
    "utf-16-be": "UTF-16 (big-endian)",
    "utf-16-le": "UTF-16 (little-endian)",
    "utf-32-be": "UTF-32 (big-endian)",
    "utf-32-le": "UTF-32 (little-endian)",
}


def _foreign_encoding(data: bytes) -> str | None:
    """Name the encoding of ``data`` when it is plainly not BOM-less UTF-8, else None."""
    for bom, bom_name in _BOMS:
        if data.startswith(bom):
            return bom_name
    # JSON text starts with an ASCII character: NUL bytes among the first four give
    # UTF-16/32 away (RFC 4627 section 3, as json.detect_encoding does).
    detected = json.detect_encoding(data[:4]) if len(data) >= 2 else "utf-8"  # noqa: PLR2004
    name = _ENCODING_NAMES.get(detected)
    if name is None:
        return None
    # Only name it when the text really reads as JSON in that encoding (NUL bytes alone
    # are just garbage, reported as invalid JSON).
    try:
        start = data.decode(detected).lstrip(" \t\r\n")[:1]
    except UnicodeDecodeError:
        return None
    return name if start in {"{", "["} else None


def _utf8_text(text: str | bytes) -> str:
    """Return the config text, refusing UTF-16, UTF-32, a byte-order mark and bad UTF-8."""
    if isinstance(text, str):
        if text.startswith("\ufeff"):
            raise ConfigRejectedError(
                "config rejected: file starts with a byte-order mark; "
                "a config must be UTF-8 without a BOM"
            )
        return text
    foreign = _foreign_encoding(text)
    if foreign is not None:
        raise ConfigRejectedError(
            f"config rejected: file is encoded as {foreign}; "
            "a config must be UTF-8 without a byte-order mark"
        )
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigRejectedError(
            f"config rejected: file is not valid UTF-8 (byte 0x{text[exc.start]:02x} "
            f"at offset {exc.start})"
        ) from None


def decode_config_json(text: str | bytes) -> object:
    """Decode the JSON of a config file (ours or legacy) with the document-wide rules.

    Parameters
    ----------
    text : str or bytes
        The whole file content, as read (ours or legacy).

    Returns
    -------
    object
        The decoded JSON value (not yet validated).

    Raises
    ------
    ConfigRejectedError
        A file over ``MAX_CONFIG_BYTES`` or empty; text that is not UTF-8 without a
        byte-order mark (UTF-16, UTF-32, a BOM, invalid UTF-8); invalid JSON;
        NaN/Infinity; a duplicate key; pathological nesting.
    """
    # surrogatepass: a lone surrogate is measured here and rejected by the parser below.
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > MAX_CONFIG_BYTES:
        raise ConfigRejectedError(
            f"config rejected: file is {size} bytes, over the {MAX_CONFIG_BYTES}-byte limit"
        )
    if size == 0:
        raise ConfigRejectedError("config rejected: file is empty")
    text = _utf8_text(text)

    def _no_constants(token: str) -> float:
        raise ConfigRejectedError(f"config rejected: {token} is not allowed in a config")

    def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Last-wins would let a bad first value hide behind a good one (and vice versa).
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise ConfigRejectedError(
                    f"config rejected: duplicate key {key!r} in a JSON object "
                    "(each field may appear only once)"
                )
            obj[key] = value
        return obj

    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except ConfigRejectedError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigRejectedError(f"config rejected: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigRejectedError("config rejected: JSON nested too deeply") from None
