"""Tests for the calibration.json contract: every bad input is refused, valid ones round-trip."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from calibration_core.config import (
    MAX_CONFIG_BYTES,
    CalibrationConfig,
    ConfidenceMap,
    ConsensusMultipliers,
    EnsembleWeights,
    PerSymbolMaps,
    is_valid_version,
    parse_config,
)
from calibration_core.deploy.jobstore import format_job_id
from calibration_core.exceptions import CalibrationError, ConfigRejectedError
from calibration_core.legacy_config import LegacyConfig
from calibration_core_tests.deploy_helpers import (
    REPO_ROOT,
    calibration_configs,
    make_config,
    version_id,
)
from calibration_core_tests.legacy_helpers import (
    LEGACY_CREATED_AT,
    LEGACY_VERSION,
    SIX_MEMBERS,
    bad_legacy_bytes,
    good_values,
    legacy_bytes,
    legacy_document,
    legacy_keys,
    old_loader,
    served_reference,
)

_DELETE = object()


def _base() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(make_config(version_id(0), approved_by="alice").to_json())
    symbol_map = copy.deepcopy(doc["confidence_calibration"])
    doc["per_symbol"] = {"enabled": True, "maps": {"BTCUSDT": symbol_map}}
    return doc


def _doc(*changes: tuple[str, object]) -> str:
    """Return the base document as text with ``dotted.path`` fields replaced (or deleted)."""
    doc = copy.deepcopy(_base())
    for path, value in changes:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(doc)


_KNOTS = [0.0, 0.5, 1.0]

# (id, input, error type, message pattern): one row per way a document can be bad.
BAD_INPUTS: list[tuple[str, str | bytes, type[Exception], str]] = [
    ("empty", "", ConfigRejectedError, r"file is empty"),
    ("too big", " " * (MAX_CONFIG_BYTES + 1), ConfigRejectedError, r"over the 1048576-byte limit"),
    ("not json", "{version:", ConfigRejectedError, r"not valid JSON"),
    (
        "invalid utf-8",
        b'{"version": "\xff"}',
        ConfigRejectedError,
        r"not valid UTF-8 \(byte 0xff at offset 13\)",
    ),
    (
        "bom in str",
        "\ufeff" + _doc(),
        ConfigRejectedError,
        r"byte-order mark; a config must be UTF-8",
    ),
    # Issue 11 item 14: the docs say UTF-8 JSON; the others were silently accepted.
    (
        "utf-8 bom bytes",
        b"\xef\xbb\xbf" + _doc().encode(),
        ConfigRejectedError,
        r"UTF-8 with a byte-order mark",
    ),
    (
        "utf-16 bom",
        _doc().encode("utf-16"),
        ConfigRejectedError,
        r"encoded as UTF-16 \(little-endian, with",
    ),
    (
        "utf-16-le",
        _doc().encode("utf-16-le"),
        ConfigRejectedError,
        r"encoded as UTF-16 \(little-endian\)",
    ),
    (
        "utf-16-be",
        _doc().encode("utf-16-be"),
        ConfigRejectedError,
        r"encoded as UTF-16 \(big-endian\)",
    ),
    (
        "utf-32 bom",
        _doc().encode("utf-32"),
        ConfigRejectedError,
        r"encoded as UTF-32 \(little-endian, with",
    ),
    (
        "utf-32-le",
        _doc().encode("utf-32-le"),
        ConfigRejectedError,
        r"encoded as UTF-32 \(little-endian\)",
    ),
    (
        "utf-32-be",
        _doc().encode("utf-32-be"),
        ConfigRejectedError,
        r"encoded as UTF-32 \(big-endian\)",
    ),
    ("top-level array", "[]", ConfigRejectedError, r"document must be an object \(got list\)"),
    ("NaN", _doc().replace('"weak": 1.0', '"weak": NaN'), ConfigRejectedError, r"NaN is not"),
    ("Infinity", _doc().replace('"weak": 1.0', '"weak": -Infinity'), ConfigRejectedError, "-Inf"),
    ("1e400", _doc().replace('"weak": 1.0', '"weak": 1e400'), ConfigRejectedError, r"finite"),
    # Bug fixed: a 400-digit integer made float() raise OverflowError past the validation.
    (
        "huge integer",
        _doc().replace('"weak": 1.0', '"weak": 1' + "0" * 400),
        ConfigRejectedError,
        r"consensus_multipliers.multipliers.weak must be finite",
    ),
    # Bug fixed: deep nesting escaped as RecursionError (the loader would crash on it).
    ("deep nesting", "[" * 100_000 + "]" * 100_000, ConfigRejectedError, r"nested too deeply"),
    # Bug fixed: the size check itself raised UnicodeEncodeError on a lone surrogate.
    ("lone surrogate", '"\ud800"', ConfigRejectedError, r"document must be an object"),
    ("unknown field", _doc(("extra", 1)), ConfigRejectedError, r"unknown field 'extra'"),
    # Bug fixed: duplicate keys were accepted, the last one silently winning.
    (
        "duplicate weight",
        _doc().replace('"xgb": 0.3', '"xgb": 0.9, "xgb": 0.3', 1),
        ConfigRejectedError,
        r"duplicate key 'xgb'",
    ),
    (
        "duplicate version",
        _doc().replace('"version": ', '"version": "../../x", "version": ', 1),
        ConfigRejectedError,
        r"duplicate key 'version'",
    ),
    (
        "duplicate enabled",
        _doc().replace('"enabled": true', '"enabled": "yes", "enabled": true', 1),
        ConfigRejectedError,
        r"duplicate key 'enabled'",
    ),
    (
        "duplicate identical",
        _doc().replace('"schema_version": ', '"schema_version": 1, "schema_version": ', 1),
        ConfigRejectedError,
        r"duplicate key 'schema_version'",
    ),
    ("no version", _doc(("version", _DELETE)), ConfigRejectedError, r"missing required .*version"),
    ("no weights", _doc(("ensemble_weights", _DELETE)), ConfigRejectedError, r"ensemble_weights"),
    ("schema 2", _doc(("schema_version", 2)), ConfigRejectedError, r"2 is unknown"),
    ("schema bool", _doc(("schema_version", True)), ConfigRejectedError, r"\(got a boolean\)"),
    ("schema str", _doc(("schema_version", "1")), ConfigRejectedError, r"must be an integer"),
    ("schema float", _doc(("schema_version", 1.0)), ConfigRejectedError, r"must be an integer"),
    ("version path", _doc(("version", "../../etc/x")), ConfigRejectedError, r"version must look"),
    ("version short", _doc(("version", "cal_2026")), ConfigRejectedError, r"version must look"),
    ("version NUL", _doc(("version", version_id(0) + "\x00")), ConfigRejectedError, r"version"),
    ("version int", _doc(("version", 20260101)), ConfigRejectedError, r"version must be a string"),
    ("naive time", _doc(("created_at", "2026-01-01T00:00:00")), ConfigRejectedError, r"time zone"),
    ("bad time", _doc(("created_at", "yesterday")), ConfigRejectedError, r"not an ISO-8601"),
    ("time int", _doc(("approved_at", 5)), ConfigRejectedError, r"approved_at must be a string"),
    ("approver empty", _doc(("approved_by", "")), ConfigRejectedError, r"1-128 printable"),
    ("approver newline", _doc(("approved_by", "a\nb")), ConfigRejectedError, r"1-128 printable"),
    ("approver long", _doc(("approved_by", "a" * 129)), ConfigRejectedError, r"1-128 printable"),
    ("source job", _doc(("source_job", "x")), ConfigRejectedError, r"source_job must look"),
    ("data hash", _doc(("data_hash", 5)), ConfigRejectedError, r"data_hash must be a string"),
    (
        "enabled str",
        _doc(("confidence_calibration.enabled", "yes")),
        ConfigRejectedError,
        r"confidence_calibration.enabled must be a boolean",
    ),
    # Bug fixed: control characters in data_hash reached the operator's terminal via status.
    (
        "data_hash escape",
        _doc(("data_hash", "sha256:\x1b[2Jabc")),
        ConfigRejectedError,
        r"data_hash must be 1-128 printable characters",
    ),
    (
        "data_hash empty",
        _doc(("data_hash", "")),
        ConfigRejectedError,
        r"data_hash must be 1-128 printable characters",
    ),
    # Bug fixed: any string was accepted as a map's method, control characters included.
    (
        "method NUL",
        _doc(("confidence_calibration.method", "\x00")),
        ConfigRejectedError,
        r"confidence_calibration.method must be a lower-case identifier",
    ),
    (
        "method newline",
        _doc(("per_symbol.maps.BTCUSDT.method", "isotonic\nrm -rf")),
        ConfigRejectedError,
        r"per_symbol.maps.BTCUSDT.method must be a lower-case identifier",
    ),
    (
        "method empty",
        _doc(("confidence_calibration.method", "")),
        ConfigRejectedError,
        r"method must be a lower-case identifier",
    ),
    (
        "method path",
        _doc(("confidence_calibration.method", "../x")),
        ConfigRejectedError,
        r"method must be a lower-case identifier",
    ),
    (
        "max change big",
        _doc(("confidence_calibration.max_change", 0.2)),
        ConfigRejectedError,
        r"max_change must be in \(0, 0.15\]",
    ),
    (
        "max change zero",
        _doc(("confidence_calibration.max_change", 0)),
        ConfigRejectedError,
        r"max_change must be in",
    ),
    (
        "knots not spanning",
        _doc(
            ("confidence_calibration.thresholds", [0.1, 0.5, 1.0]),
            ("confidence_calibration.values", [0.1, 0.5, 1.0]),
        ),
        ConfigRejectedError,
        r"knots must span \[0, 1\]",
    ),
    (
        "knots not increasing",
        _doc(
            ("confidence_calibration.thresholds", [0.0, 0.5, 0.5, 1.0]),
            ("confidence_calibration.values", [0.0, 0.5, 0.5, 1.0]),
        ),
        ConfigRejectedError,
        r"strictly increasing",
    ),
    (
        "length mismatch",
        _doc(("confidence_calibration.values", [0.0, 1.0])),
        ConfigRejectedError,
        r"has 7 thresholds but 2 values",
    ),
    (
        "one knot",
        _doc(
            ("confidence_calibration.thresholds", [0.0]), ("confidence_calibration.values", [0.0])
        ),
        ConfigRejectedError,
        r"needs at least 2 knots",
    ),
    (
        "value above 1",
        _doc(
            ("confidence_calibration.thresholds", _KNOTS),
            ("confidence_calibration.values", [0.0, 0.5, 1.01]),
        ),
        ConfigRejectedError,
        r"values\[2\] must lie in \[0, 1\]",
    ),
    (
        "not monotone",
        _doc(
            ("confidence_calibration.thresholds", [0.0, 0.5, 0.55, 1.0]),
            ("confidence_calibration.values", [0.0, 0.55, 0.5, 1.0]),
        ),
        ConfigRejectedError,
        r"values\[2\] is not monotone",
    ),
    (
        "beyond band",
        _doc(
            ("confidence_calibration.thresholds", _KNOTS),
            ("confidence_calibration.values", [0.0, 0.7, 1.0]),
        ),
        ConfigRejectedError,
        r"moves confidence 0.5 by \+0.2000, beyond ±0.15",
    ),
    (
        "thresholds object",
        _doc(("confidence_calibration.thresholds", {"a": 1})),
        ConfigRejectedError,
        r"thresholds must be an array",
    ),
    (
        "threshold string",
        _doc(("confidence_calibration.thresholds", [0.0, "0.5", 1.0])),
        ConfigRejectedError,
        r"thresholds\[1\] must be a number",
    ),
    (
        "threshold bool",
        _doc(("confidence_calibration.thresholds", [0.0, True, 1.0])),
        ConfigRejectedError,
        r"got a boolean",
    ),
    (
        "weight too big",
        _doc(("ensemble_weights.weights", {"a": 0.5, "b": 0.25, "c": 0.25})),
        ConfigRejectedError,
        r"weights.a must be in \[0.15, 0.4\]",
    ),
    (
        "weight too small",
        _doc(("ensemble_weights.weights", {"a": 0.4, "b": 0.4, "c": 0.1, "d": 0.1})),
        ConfigRejectedError,
        r"weights.c must be in \[0.15, 0.4\]",
    ),
    (
        "weights sum",
        _doc(("ensemble_weights.weights", {"a": 0.3, "b": 0.3, "c": 0.3})),
        ConfigRejectedError,
        r"must sum to 1 ± 0.001 \(got 0.900000\)",
    ),
    (
        "weights empty",
        _doc(("ensemble_weights.weights", {})),
        ConfigRejectedError,
        r"empty but weights are enabled",
    ),
    (
        "model name",
        _doc(("ensemble_weights.weights", {"bad name": 0.4, "b": 0.3, "c": 0.3})),
        ConfigRejectedError,
        r"invalid model name 'bad name'",
    ),
    (
        "weights array",
        _doc(("ensemble_weights.weights", [0.5, 0.5])),
        ConfigRejectedError,
        r"ensemble_weights.weights must be an object",
    ),
    (
        "symbol name",
        _doc(("per_symbol.maps", {"../x": {}})),
        ConfigRejectedError,
        r"invalid symbol '../x'",
    ),
    (
        "symbol map",
        _doc(("per_symbol.maps.BTCUSDT.values", [0.0, 0.9, 0.6, 0.7, 0.8, 0.9, 1.0])),
        ConfigRejectedError,
        r"per_symbol.maps.BTCUSDT.values\[1\] moves confidence",
    ),
    (
        "bucket missing",
        _doc(("consensus_multipliers.multipliers.weak", _DELETE)),
        ConfigRejectedError,
        r"missing required field 'weak'",
    ),
    (
        "multiplier range",
        _doc(("consensus_multipliers.multipliers.split", 2.0)),
        ConfigRejectedError,
        r"multipliers.split must be in \[0.5, 1.5\]",
    ),
]


class TestFromJsonRejects:
    @pytest.mark.parametrize(
        ("text", "error", "pattern"),
        [pytest.param(t, e, p, id=i) for i, t, e, p in BAD_INPUTS],
    )
    def test_bad_document_is_rejected_with_a_one_line_reason(
        self, text: str | bytes, error: type[Exception], pattern: str
    ) -> None:
        """Every malformed document raises ConfigRejectedError naming the field and rule."""
        with pytest.raises(error, match=pattern) as info:
            CalibrationConfig.from_json(text)
        assert str(info.value).startswith("config rejected: ")
        assert "\n" not in str(info.value)

    def test_the_base_document_of_the_table_is_valid(self) -> None:
        """The table's base document parses, so each row fails for its own reason only."""
        assert CalibrationConfig.from_json(_doc()).per_symbol.enabled

    def test_rejection_is_a_value_error_and_a_calibration_error(self) -> None:
        """Callers may catch ValueError or CalibrationError."""
        with pytest.raises(ValueError, match="empty"):
            CalibrationConfig.from_json("")
        with pytest.raises(CalibrationError):
            CalibrationConfig.from_json("")


class TestRoundTrip:
    @given(calibration_configs())
    def test_from_json_of_to_json_gives_the_same_value(self, config: CalibrationConfig) -> None:
        """Parsing what to_json wrote gives back an equal config."""
        assert CalibrationConfig.from_json(config.to_json()) == config

    @given(calibration_configs())
    def test_to_json_is_canonical(self, config: CalibrationConfig) -> None:
        """Writing a parsed document again gives byte-identical text."""
        text = config.to_json()
        assert CalibrationConfig.from_json(text).to_json() == text

    @given(calibration_configs())
    def test_bytes_and_text_parse_alike(self, config: CalibrationConfig) -> None:
        """from_json accepts the file's bytes as well as its text."""
        text = config.to_json()
        assert CalibrationConfig.from_json(text.encode("utf-8")) == CalibrationConfig.from_json(
            text
        )

    @given(calibration_configs())
    def test_to_dict_matches_the_written_document(self, config: CalibrationConfig) -> None:
        """The written JSON is exactly to_dict(), so readers of either agree."""
        assert json.loads(config.to_json()) == config.to_dict()

    @given(calibration_configs(), st.floats(0.151, 1.0))
    def test_to_json_refuses_a_map_beyond_the_band(
        self, config: CalibrationConfig, push: float
    ) -> None:
        """A knot moved beyond ±0.15 is never written."""
        conf = config.confidence
        values = (*conf.values[:-1], max(0.0, 1.0 - push))
        bad = attrs.evolve(config, confidence=attrs.evolve(conf, values=values))
        with pytest.raises(ConfigRejectedError, match="values"):
            bad.to_json()


def _multipliers(weak: float) -> ConsensusMultipliers:
    # Disabled multipliers whose "weak" value json.dumps refuses (NaN, a numpy scalar).
    return ConsensusMultipliers(
        enabled=False,
        multipliers=(("unanimous", 1.0), ("strong", 1.0), ("split", 1.0), ("weak", weak)),
    )


class TestToJsonRejects:
    @pytest.mark.parametrize(
        ("change", "pattern"),
        [
            pytest.param(
                {"consensus": _multipliers(math.nan)},
                r"not writable as JSON",
                id="nan",
            ),
            pytest.param(
                {"consensus": _multipliers(np.float32(1.0))},  # type: ignore[arg-type]
                r"not writable as JSON",
                id="numpy-float32",
            ),
            pytest.param(
                {"consensus": ConsensusMultipliers(enabled=np.True_)},  # type: ignore[arg-type]
                r"not writable as JSON",
                id="numpy-bool",
            ),
            pytest.param(
                {"weights": EnsembleWeights(enabled=True, weights=(("a", 0.5), ("b", 0.5)))},
                r"must be in \[0.15, 0.4\]",
                id="out-of-bounds",
            ),
            pytest.param({"version": "../x"}, r"version must look", id="bad-version"),
            pytest.param({"approved_at": "today"}, r"not an ISO-8601", id="bad-time"),
        ],
    )
    def test_invalid_value_is_never_written(self, change: dict[str, Any], pattern: str) -> None:
        """to_json raises ConfigRejectedError (not TypeError/ValueError) for any invalid value."""
        bad = attrs.evolve(make_config(version_id(0)), **change)
        with pytest.raises(ConfigRejectedError, match=pattern):
            bad.to_json()

    @given(st.permutations(["a", "a", "b", "c"]))
    @example(["a", "a", "b", "c"])  # bug fixed: dict() merged the repeats into a valid sum
    def test_repeated_model_name_is_rejected(self, names: list[str]) -> None:
        """Weights naming a model twice are refused instead of silently merged."""
        pairs = tuple(zip(names, (0.30, 0.30, 0.35, 0.35), strict=True))
        bad = attrs.evolve(
            make_config(version_id(0)), weights=EnsembleWeights(enabled=True, weights=pairs)
        )
        with pytest.raises(ConfigRejectedError, match="repeated name"):
            bad.to_json()

    def test_repeated_symbol_is_rejected(self) -> None:
        """Per-symbol maps naming a symbol twice are refused."""
        conf = ConfidenceMap()
        per_symbol = PerSymbolMaps(enabled=True, maps=(("BTC", conf), ("BTC", conf)))
        with pytest.raises(ConfigRejectedError, match=r"per_symbol.maps has a repeated name"):
            attrs.evolve(make_config(version_id(0)), per_symbol=per_symbol).to_json()


# Sections an old document may carry under "hold_bias": ours (enabled or not, even ones the
# removed validation refused) and the old deployer's.
OLD_HOLD_BIAS_SECTIONS = [
    {"enabled": True, "bias": 0.08},
    {"enabled": False, "bias": 0.0},
    {"enabled": True, "bias": 0.2},
    {"enabled": True, "bias": 0.1, "scale": 1},
    {
        "enabled": True,
        "adjustment_factor": 1.1,
        "hold_accuracy": 0.4,
        "missed_opportunities": 3,
        "sample_size": 52,
    },
    "not an object",
    None,
]


class TestOldHoldBiasSection:
    """The HOLD bias is removed (issue 14): an old document's section is read and ignored."""

    @pytest.mark.parametrize("section", OLD_HOLD_BIAS_SECTIONS)
    def test_our_document_with_it_parses_to_the_same_config(self, section: object) -> None:
        """Same value as without the section; writing it back leaves the section out."""
        plain = CalibrationConfig.from_json(_doc())
        old = CalibrationConfig.from_json(_doc(("hold_bias", section)))
        assert old == plain
        assert parse_config(_doc(("hold_bias", section))) == plain
        assert "hold_bias" not in json.loads(old.to_json())

    @pytest.mark.parametrize("section", OLD_HOLD_BIAS_SECTIONS)
    def test_a_legacy_document_with_it_parses_the_same(self, section: object) -> None:
        """The old deployer's document reads (and may be served) the same, whatever it holds."""
        document = legacy_document()
        plain = LegacyConfig.from_dict(document)
        document["hold_bias"] = section
        old = LegacyConfig.from_dict(document)
        assert old == plain
        assert old.served_knots() == plain.served_knots()
        assert old.refusal == plain.refusal
        assert "hold_bias" not in old.to_dict()

    def test_new_documents_do_not_write_it(self) -> None:
        """Neither to_dict nor to_json has a hold_bias section any more."""
        config = make_config(version_id(0))
        assert "hold_bias" not in config.to_dict()
        assert "hold_bias" not in config.to_json()


class TestIsValidVersion:
    @given(
        st.datetimes(
            min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
            max_value=datetime(2999, 1, 1),  # noqa: DTZ001
        ),
        st.integers(0, 999),
    )
    def test_every_job_id_is_a_valid_version(self, moment: datetime, sequence: int) -> None:
        """format_job_id always produces a name is_valid_version accepts."""
        assert is_valid_version(format_job_id(moment.replace(tzinfo=UTC), sequence))

    @pytest.mark.parametrize(
        "name",
        [
            "",
            "../cal_20260101_000000",
            "/etc/passwd",
            "cal_20260101_000000\x00",
            "cal_20260101_000000/..",
            "cal_20260101_000000.json",
            "cal_20260101_0000000",
            "cal_20260101_000000_1",
            "cal_20260101_000000_1234",
            "CAL_20260101_000000",
            " cal_20260101_000000",
            "cal_20260101_000000\n",
        ],
    )
    def test_anything_else_is_refused(self, name: str) -> None:
        """Paths, NUL, suffixes of the wrong length and padding are not versions."""
        assert not is_valid_version(name)

    @given(st.text())
    def test_a_valid_version_never_contains_path_characters(self, name: str) -> None:
        """No accepted name can climb out of a directory or end a C string early."""
        if is_valid_version(name):
            assert re.fullmatch(r"[a-z0-9_]+", name)

    def test_non_strings_are_refused(self) -> None:
        """A non-string is not a version (no exception)."""
        assert not is_valid_version(None)  # type: ignore[arg-type]


class TestDocumentedExample:
    def test_the_complete_example_in_docs_config_md_is_valid(self) -> None:
        """The first JSON block of docs/config.md parses and validates, every section present."""
        text = (REPO_ROOT / "docs" / "config.md").read_text(encoding="utf-8")
        block = re.search(r"```json\n(.*?)```", text, re.DOTALL)
        assert block is not None
        config = CalibrationConfig.from_json(block.group(1))
        assert json.loads(config.to_json()) == json.loads(block.group(1))
        assert set(json.loads(block.group(1))) == set(config.to_dict())

    def test_the_legacy_example_in_docs_config_md_is_a_servable_legacy_config(self) -> None:
        """The JSON block under "Legacy configs" parses as a LegacyConfig that may be served."""
        text = (REPO_ROOT / "docs" / "config.md").read_text(encoding="utf-8")
        section = text[text.index("## Legacy configs") :]
        block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
        assert block is not None
        config = parse_config(block.group(1))
        assert isinstance(config, LegacyConfig)
        assert config.refusal is None
        assert config.based_on_trades == 52
        assert dict(config.mapping)[float("0.6000000000000001")] == 0.53


# --------------------------------------------------------------------------- legacy configs


def _legacy_text(**changes: Any) -> str:
    return legacy_bytes(**changes).decode("utf-8")


def _legacy_edit(path: str, value: object) -> str:
    doc = legacy_document()
    *parents, leaf = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return json.dumps(doc)


class TestLegacyParse:
    """Issue 9 §3: the old deployer's calibration.json is recognised, not rejected."""

    def test_legacy_document_becomes_a_legacy_config(self) -> None:
        """parse_config reads the old layout with its float-noise keys and naive created_at."""
        config = parse_config(legacy_bytes())
        assert isinstance(config, LegacyConfig)
        assert config.version == LEGACY_VERSION
        assert config.created_at == LEGACY_CREATED_AT
        assert config.based_on_trades == 52
        assert config.approved_by == "manual_cli"
        assert [x for x, _ in config.mapping] == legacy_keys()
        assert "0.6000000000000001" in legacy_document()["confidence_calibration"]["mapping"]
        assert config.calibration_enabled
        assert not config.weights_enabled
        assert config.weights_dict() == {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
        assert config.refusal is None

    def test_our_parser_names_a_legacy_document(self) -> None:
        """CalibrationConfig.from_json no longer says 'unknown field based_on_trades'."""
        with pytest.raises(ConfigRejectedError, match=r"legacy config written by the old deployer"):
            CalibrationConfig.from_json(legacy_bytes())

    def test_legacy_parser_refuses_one_of_ours(self) -> None:
        """LegacyConfig.from_json refuses our own documents with a reason."""
        with pytest.raises(ConfigRejectedError, match=r"not a legacy config"):
            LegacyConfig.from_json(_doc())
        assert isinstance(LegacyConfig.from_json(legacy_bytes()), LegacyConfig)

    def test_our_document_still_parses_through_the_dispatch(self) -> None:
        """parse_config returns a CalibrationConfig for ours."""
        assert isinstance(parse_config(_doc()), CalibrationConfig)

    @pytest.mark.parametrize(
        ("path", "value", "pattern"),
        [
            ("version", "2026-02-06", r"legacy version must look like cal_"),
            ("version", 5, r"legacy version must be a string"),
            ("created_at", "yesterday", r"legacy created_at is not an ISO-8601 timestamp"),
            ("created_at", _DELETE, r"legacy document is missing required field 'created_at'"),
            ("based_on_trades", -1, r"legacy based_on_trades must be a count >= 0"),
            ("based_on_trades", True, r"legacy based_on_trades must be an integer \(got a boolean"),
            ("based_on_trades", 5.5, r"legacy based_on_trades must be an integer"),
            ("surprise", 1, r"legacy document has unknown field 'surprise'"),
            ("approved_by", "a\x1b[2Jb", r"legacy approved_by must be 1-128 printable"),
            ("approved_by", "a\u202eb", r"legacy approved_by must be 1-128 printable"),
            (
                "confidence_calibration.mapping",
                {"abc": 0.5},
                r"mapping has a key that is not a number: 'abc'",
            ),
            (
                "confidence_calibration.mapping",
                {"0.5": 0.5, "0.50": 0.55},
                r"mapping has two keys for the same confidence 0\.5",
            ),
            (
                "confidence_calibration.mapping",
                {"nan": 0.5},
                r"mapping has a key that is not finite",
            ),
            ("confidence_calibration.mapping", {"0.5": "0.5"}, r"must be a number \(got str\)"),
            ("confidence_calibration.mapping", [0.5], r"mapping must be an object \(got list\)"),
            ("confidence_calibration.mapping", _DELETE, r"is missing required field 'mapping'"),
            ("confidence_calibration.enabled", "yes", r"enabled must be a boolean"),
            ("ensemble_weights.weights", _DELETE, r"is missing required field 'weights'"),
            ("ensemble_weights.weights", {"xgb": "0.3"}, r"weights\['xgb'\] must be a number"),
            (
                "ensemble_weights.weights",
                {"x\x1b[2J": "0.3"},
                r"weights\['x\\x1b\[2J'\] must be a number",
            ),
            ("ensemble_weights.enabled", 1, r"ensemble_weights\.enabled must be a boolean"),
        ],
    )
    def test_malformed_legacy_document_is_rejected(
        self, path: str, value: object, pattern: str
    ) -> None:
        """A malformed legacy field is a one-line ConfigRejectedError naming it."""
        with pytest.raises(ConfigRejectedError, match=pattern) as info:
            parse_config(_legacy_edit(path, value))
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("config rejected: ")

    @pytest.mark.parametrize(
        ("encoding", "pattern"),
        [
            ("utf-16", r"UTF-16"),
            ("utf-16-be", r"UTF-16 \(big-endian\)"),
            ("utf-32-le", r"UTF-32 \(little-endian\)"),
            ("utf-8-sig", r"UTF-8 with a byte-order mark"),
        ],
    )
    def test_legacy_document_in_another_encoding_is_refused(
        self, encoding: str, pattern: str
    ) -> None:
        """Issue 11 item 14 applies to legacy documents too."""
        with pytest.raises(ConfigRejectedError, match=pattern):
            parse_config(_legacy_text().encode(encoding))
        with pytest.raises(ConfigRejectedError, match=pattern):
            LegacyConfig.from_json(_legacy_text().encode(encoding))


class TestLegacyRules:
    """A legacy config is served only if it passes the hard rules; else the rule and worst point."""

    def test_the_real_systems_example_is_refused_with_the_worst_point(self) -> None:
        """The example of the issue: 0.50 mapped to 0.00."""
        config = parse_config(bad_legacy_bytes())
        assert isinstance(config, LegacyConfig)
        assert config.refusal == (
            "legacy config cal_20260206_060303 maps 0.50 to 0.00, beyond the ±0.15 bound"
        )

    def test_worst_point_is_the_largest_move(self) -> None:
        """Of several points beyond the bound, the largest move is named."""
        values = good_values()
        values[0], values[1] = 0.3, 0.3  # moves of -0.20 and -0.25
        config = LegacyConfig.from_json(legacy_bytes(values=values))
        assert config.refusal == (
            "legacy config cal_20260206_060303 maps 0.55 to 0.30, beyond the ±0.15 bound"
        )

    def test_non_monotone_map_is_refused(self) -> None:
        """A drop between keys names the two points."""
        values = good_values()
        values[3] = values[2] - 0.01
        config = LegacyConfig.from_json(legacy_bytes(values=values))
        assert config.refusal == (
            "legacy config cal_20260206_060303 is not monotone: "
            "maps 0.65 to 0.52 after 0.60 to 0.53"
        )

    def test_value_outside_unit_interval_is_refused(self) -> None:
        """A value above 1 is outside [0, 1]."""
        values = good_values()
        values[-1] = 1.05
        config = LegacyConfig.from_json(legacy_bytes(values=values))
        assert (
            config.refusal == "legacy config cal_20260206_060303 maps 1.00 to 1.05, outside [0, 1]"
        )

    def test_key_outside_unit_interval_is_refused(self) -> None:
        """A key above 1 is refused (the old tool never wrote one)."""
        keys = [*legacy_keys()[:-1], 1.1]
        values = [*good_values()[:-1], 1.0]
        config = LegacyConfig.from_json(legacy_bytes(keys=keys, values=values))
        assert config.refusal is not None
        assert "has a mapping key 1.10 outside [0, 1]" in config.refusal

    def test_enabled_map_without_keys_is_refused(self) -> None:
        """An enabled, empty mapping cannot be served."""
        config = LegacyConfig.from_json(legacy_bytes(keys=[], values=[]))
        assert config.refusal is not None
        assert "empty mapping" in config.refusal

    def test_disabled_map_is_not_judged_and_serves_the_identity(self) -> None:
        """A bad map that is disabled is never served, so it does not block the weights."""
        config = LegacyConfig.from_json(legacy_bytes(values=[0.0] * 11, calibration_enabled=False))
        assert config.refusal is None
        assert config.served_knots() == ((0.0, 1.0), (0.0, 1.0))

    @pytest.mark.parametrize(
        ("weights", "pattern"),
        [
            (
                {"xgb": 0.05, "lgbm": 0.35, "nhits": 0.3, "patchtst": 0.3},
                r"has an enabled weight outside \[0\.15, 0\.4\]: xgb 0\.05",
            ),
            (
                {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.1, "tft": 0.1},
                r"weight outside \[0\.15, 0\.4\]: patchtst 0\.1",
            ),
            ({"xgb": 0.3, "lgbm": 0.3, "nhits": 0.3}, r"summing to 0\.9000, not 1 ± 0\.001"),
            ({"xgb": 0.5, "lgbm": 0.5}, r"has 2 enabled weights; 3 to 6 members are allowed"),
            ({f"m{i}": 1 / 7 for i in range(7)}, r"has 7 enabled weights; 3 to 6 members"),
            ({"x gb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}, r"invalid model name"),
            (
                {"x\x1b[2J": 0.05, "lgbm": 0.35, "nhits": 0.3, "patchtst": 0.3},
                r"weight outside \[0\.15, 0\.4\]: 'x\\x1b\[2J' 0\.05",
            ),
        ],
    )
    def test_enabled_weights_must_pass_the_weight_checks(
        self, weights: dict[str, float], pattern: str
    ) -> None:
        """Bounds [0.15, 0.40], sum 1 and 3 to 6 members, for enabled weights only."""
        enabled = LegacyConfig.from_json(legacy_bytes(weights=weights, weights_enabled=True))
        assert enabled.refusal is not None
        assert re.search(pattern, enabled.refusal), enabled.refusal
        disabled = LegacyConfig.from_json(legacy_bytes(weights=weights, weights_enabled=False))
        assert disabled.refusal is None

    def test_six_members_at_todays_weights_are_served(self) -> None:
        """Today's six members pass the checks."""
        config = LegacyConfig.from_json(legacy_bytes(weights=SIX_MEMBERS, weights_enabled=True))
        assert config.refusal is None
        assert config.weights_dict() == SIX_MEMBERS

    def test_every_broken_rule_is_named_on_one_line(self) -> None:
        """A config breaking two rules names both, on one line."""
        config = LegacyConfig.from_json(
            legacy_bytes(
                values=[0.0, *good_values()[1:]], weights={"a": 0.5, "b": 0.5}, weights_enabled=True
            )
        )
        assert config.refusal is not None
        assert "beyond the ±0.15 bound" in config.refusal
        assert "3 to 6 members" in config.refusal
        assert "\n" not in config.refusal


def _legacy_maps() -> st.SearchStrategy[tuple[list[float], list[float]]]:
    """Monotone legacy maps within [0, 1] and ±0.15 of their keys (servable ones)."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[float], list[float]]:
        n = draw(st.integers(1, 12))
        keys = sorted(set(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n, unique=True))))
        values: list[float] = []
        for k in keys:
            low = max(0.0, k - 0.15, values[-1] if values else 0.0)
            high = min(1.0, k + 0.15)
            low = min(low, high)
            values.append(draw(st.floats(low, high)))
        return keys, values

    return build()


class TestLegacyServedMap:
    """The served knots reproduce the old loader between the keys, clipped to ±0.15 beyond."""

    GRID: ClassVar[list[float]] = [i / 1000 for i in range(1001)]

    def test_example_map_matches_the_old_loader(self) -> None:
        """On a fine grid: equal to clip(np.interp(c, keys, values), 0, 1) inside the keys."""
        keys, values = legacy_keys(), good_values()
        xs, ys = LegacyConfig.from_json(legacy_bytes()).served_knots()
        assert xs[0] == 0.0
        assert xs[-1] == 1.0
        for c in self.GRID:
            served = float(np.interp(c, xs, ys))
            assert served == pytest.approx(served_reference(c, keys, values), abs=1e-12)
            if keys[0] <= c <= keys[-1]:
                assert served == pytest.approx(old_loader(c, keys, values), abs=1e-12)
            assert abs(served - c) <= 0.15 + 1e-12

    def test_flat_extension_below_the_first_key_is_clipped(self) -> None:
        """0.43 at 0.50 stays 0.43 down to 0.28, then follows c + 0.15 (0.15 at 0)."""
        keys, values = [0.5, 1.0], [0.43, 0.9]
        xs, ys = LegacyConfig.from_json(legacy_bytes(keys=keys, values=values)).served_knots()
        assert xs == pytest.approx((0.0, 0.28, 0.5, 1.0))
        assert ys == pytest.approx((0.15, 0.43, 0.43, 0.9))
        assert float(np.interp(0.3, xs, ys)) == pytest.approx(0.43)
        assert float(np.interp(0.1, xs, ys)) == pytest.approx(0.25)

    def test_flat_extension_above_the_last_key_is_clipped(self) -> None:
        """0.6 at 0.7 stays 0.6 up to 0.75, then follows c - 0.15 (0.85 at 1)."""
        keys, values = [0.5, 0.7], [0.5, 0.6]
        xs, ys = LegacyConfig.from_json(legacy_bytes(keys=keys, values=values)).served_knots()
        assert xs == pytest.approx((0.0, 0.35, 0.5, 0.7, 0.75, 1.0))
        assert ys == pytest.approx((0.15, 0.5, 0.5, 0.6, 0.6, 0.85))

    @given(_legacy_maps())
    @example(([0.5], [0.43]))
    @example(([0.0, 1.0], [0.0, 1.0]))
    @example(([0.3, 0.7], [0.15, 0.85]))
    def test_served_knots_reproduce_the_reference_everywhere(
        self, case: tuple[list[float], list[float]]
    ) -> None:
        """For any servable map the knots span [0, 1], increase strictly, match the reference."""
        keys, values = case
        config = LegacyConfig(
            version=LEGACY_VERSION,
            created_at=LEGACY_CREATED_AT,
            calibration_enabled=True,
            mapping=tuple(zip(keys, values, strict=True)),
        )
        assert config.refusal is None
        xs, ys = config.served_knots()
        assert xs[0] == 0.0
        assert xs[-1] == 1.0
        assert all(b > a for a, b in itertools.pairwise(xs))
        assert all(b >= a for a, b in itertools.pairwise(ys))
        for c in [*self.GRID[::10], *keys]:
            served = float(np.interp(c, xs, ys))
            assert served == pytest.approx(served_reference(c, keys, values), abs=1e-12)
            assert abs(served - c) <= 0.15 + 1e-9


class TestBasedOnTrades:
    """Our configs may carry based_on_trades; absent, the canonical bytes do not change."""

    def test_round_trip_with_and_without(self) -> None:
        """Written only when set, read back equal."""
        plain = make_config(version_id(0))
        assert "based_on_trades" not in plain.to_json()
        counted = attrs.evolve(plain, based_on_trades=120)
        text = counted.to_json()
        assert '"based_on_trades": 120' in text
        assert CalibrationConfig.from_json(text) == counted

    @pytest.mark.parametrize(
        ("value", "pattern"),
        [(-1, r"must be a count >= 0"), (1.5, r"must be an integer"), ("9", r"must be an integer")],
    )
    def test_bad_count_is_rejected(self, value: object, pattern: str) -> None:
        """A count is a non-negative JSON integer."""
        with pytest.raises(ConfigRejectedError, match=r"based_on_trades " + pattern):
            CalibrationConfig.from_json(_doc(("based_on_trades", value)))
