"""Tests of the review report: JSON document, Markdown rendering, picture and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from calibration_core.core.confidence_stats import analyze_confidence
from calibration_core.core.metrics import reliability_table
from calibration_core.core.proposal import Proposal, build_proposal
from calibration_core.core.weights import ACTION_BUY, ACTION_HOLD, ACTION_SELL
from calibration_core.jobs.plot import (
    FEW_TRADES_PER_BIN,
    MATPLOTLIB_MISSING_NOTE,
    render_reliability_png,
)
from calibration_core.jobs.report import (
    MARKDOWN_SECTIONS,
    REPORT_SCHEMA,
    REPORT_SCHEMA_VERSION,
    ReportContext,
    analysis_csv,
    analysis_document,
    build_report_document,
    render_json,
    render_markdown,
    report_paths,
    validate_report_document,
    write_report,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"
JOB = "cal_20260210_143022"


def _proposal(
    *, forced: bool = False, n: int = 1500, breakdown: bool = True, extras: bool = False
) -> Proposal:
    rng = np.random.default_rng(7)
    confidence = np.round(0.5 + 0.47 * rng.beta(2.0, 2.5, n), 4)
    wins = rng.random(n) < 0.36 + 0.62 * (confidence - 0.5)
    pnl = np.where(wins, 1.0, -1.0) * rng.uniform(0.01, 2.0, n)
    sides = np.where(rng.random(n) < 0.5, ACTION_BUY, ACTION_SELL)
    columns = []
    for on_win, on_loss in ((0.62, 0.68), (0.82, 0.50), (0.70, 0.62), (0.72, 0.62)):
        with_side = rng.random(n) < np.where(wins, on_win, on_loss)
        hold = rng.random(n) < 0.1
        columns.append(np.where(hold, ACTION_HOLD, np.where(with_side, sides, -sides)))
    actions = np.stack(columns, axis=1)
    # With extras: three symbols (the third one under-confident) and each consensus_count.
    codes = rng.choice(3, n, p=[0.4, 0.4, 0.2])
    if extras:
        wins = np.where(codes == 2, rng.random(n) < np.minimum(confidence + 0.1, 0.98), wins)
        pnl = np.where(wins, 1.0, -1.0) * np.abs(pnl)
    return build_proposal(
        confidence,
        pnl,
        job_id=JOB,
        created_at="2026-02-10T14:30:22+00:00",
        data_hash="sha256:" + "a" * 64,
        sides=sides if breakdown else None,
        model_names=("xgb", "lgbm", "nhits", "patchtst") if breakdown else (),
        model_actions=actions if breakdown else None,
        forced=forced,
        newest_trade_age_hours=3.0,
        symbol_codes=codes,
        symbol_names=("BTCUSDT", "ETHUSDT", "DOGEUSDT"),
        per_symbol=extras,
        consensus_count=(actions == sides[:, None]).sum(axis=1) if extras else None,
    )


def _context(*, picture: str | None = None, status: str = "pending_approval") -> ReportContext:
    return ReportContext(
        job_id=JOB,
        created_at="2026-02-10T14:30:22+00:00",
        status=status,
        data_path="data/clm_trades.jsonl",
        data={
            "n_trades": 1500,
            "n_symbols": 2,
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "wins": 700,
            "losses": 800,
            "neutral": 10,
            "zero_pnl": 0,
            "win_rate": 0.4667,
            "loss_rate": 0.5333,
            "neutral_rate": 0.0067,
            "first_timestamp": "2026-01-21T00:00:00+00:00",
            "last_timestamp": "2026-02-10T11:30:00+00:00",
            "span_days": 20.5,
            "warnings": ["clm_trades.jsonl:7: actual_pnl_pct is exactly 0.0 (suspect data)"],
            "problems": [],
        },
        authorization={
            "status": "READY",
            "ready": True,
            "reason": "Trade count sufficient (1500/50)",
            "allowed_actions": ["calibration"],
            "levels": [
                {"name": "calibration", "authorized": True, "reason": "50+ trades"},
                {"name": "production", "authorized": False, "reason": "manual approval"},
            ],
            "api": None,
            "forced": False,
        },
        base_version="cal_20260201_000000",
        base_config_sha256="b" * 64,
        live_config_note="cal_20260201_000000 (sha256 bbbb)",
        picture=picture,
        picture_note="" if picture else MATPLOTLIB_MISSING_NOTE,
        approve_command=f"python -m calibration_core approve {JOB}",
        rollback_command="python -m calibration_core rollback",
        rollback_to_command="python -m calibration_core rollback cal_20260201_000000",
    )


@pytest.fixture(scope="module")
def proposal() -> Proposal:
    """One realistic proposal shared by the rendering tests."""
    return _proposal()


@pytest.fixture(scope="module")
def document(proposal: Proposal) -> dict[str, Any]:
    """Its report document."""
    return build_report_document(proposal, _context(picture="x_reliability.png"))


def _headings(markdown: str) -> list[str]:
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


class TestReportDocument:
    def test_document_conforms_to_its_schema(self, document: dict[str, Any]) -> None:
        """Every section and key of REPORT_SCHEMA is present, and nothing else at the top."""
        assert validate_report_document(document) == []
        assert document["report_schema_version"] == REPORT_SCHEMA_VERSION

    def test_json_export_is_strict_and_round_trips(self, document: dict[str, Any]) -> None:
        """The JSON export has no NaN and parses back to the same document."""
        text = render_json(document)
        parsed = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in JSON"))
        assert parsed == json.loads(json.dumps(document))
        assert validate_report_document(parsed) == []

    def test_schema_validation_names_what_is_missing(self, document: dict[str, Any]) -> None:
        """A document with a missing key or an unknown section is reported precisely."""
        broken = json.loads(render_json(document))
        del broken["risk"]["score"]
        broken["extra"] = 1
        broken["report_schema_version"] = 1
        problems = validate_report_document(broken)
        assert "risk.score is missing" in problems
        assert "unknown top-level key 'extra'" in problems
        assert any(p.startswith("report_schema_version must be 2") for p in problems)

    def test_schema_is_documented_key_by_key(self) -> None:
        """docs/report_schema.md names every section and key of REPORT_SCHEMA."""
        text = (DOCS / "report_schema.md").read_text(encoding="utf-8")
        assert f"report_schema_version: {REPORT_SCHEMA_VERSION}" in text
        for section, keys in REPORT_SCHEMA.items():
            assert f"`{section}`" in text, section
            for key in keys:
                assert f"`{section}.{key}`" in text, f"{section}.{key}"

    def test_summary_carries_the_key_numbers(
        self, proposal: Proposal, document: dict[str, Any]
    ) -> None:
        """The summary states the recommendation, OOS and in-sample improvement and risk."""
        summary = document["summary"]
        assert summary["recommendation"] == "APPROVE CANDIDATE"
        assert summary["oos_mse_improvement"] == pytest.approx(proposal.out_of_sample.improvement)
        assert summary["in_sample_mse_improvement"] == pytest.approx(
            proposal.in_sample.mse_improvement
        )
        assert summary["risk_category"] == proposal.validation.risk.category

    def test_proposed_config_is_the_proposal_config(
        self, proposal: Proposal, document: dict[str, Any]
    ) -> None:
        """The export holds exactly the config approve would deploy."""
        assert document["proposed_config"] == proposal.config.to_dict()

    def test_forced_job_is_not_deployable_in_the_document(self) -> None:
        """A forced job is marked forced, not deployable, and DO NOT APPLY is triggered."""
        forced = build_report_document(_proposal(forced=True), _context())
        assert forced["job"]["forced"] is True
        assert forced["deployment"]["deployable"] is False
        assert forced["summary"]["recommendation"] == "DO NOT APPLY"
        assert any("forced" in t for t in forced["do_not_apply_if"]["triggered"])


class TestRenderMarkdown:
    def test_sections_appear_once_in_the_required_order(self, document: dict[str, Any]) -> None:
        """The eleven sections appear in the issue's order, with 7a-7b after the weights."""
        assert _headings(render_markdown(document)) == list(MARKDOWN_SECTIONS)

    def test_markdown_renders_the_same_from_the_json_export(self, document: dict[str, Any]) -> None:
        """The Markdown is a rendering of the JSON export: parsing the export changes nothing."""
        assert render_markdown(json.loads(render_json(document))) == render_markdown(document)

    def test_mapping_table_covers_050_to_095_with_arrows(self, document: dict[str, Any]) -> None:
        """The mapping table has rows 0.50 … 0.95 and marks clear moves with arrows."""
        markdown = render_markdown(document)
        pattern = r"^\| (0\.\d\d) \| (0\.\d{3}) \| ([+-]0\.\d{3})(.*) \|$"
        rows = re.findall(pattern, markdown, re.MULTILINE)
        assert [r[0] for r in rows] == [f"{0.5 + 0.05 * i:.2f}" for i in range(10)]
        for _, _, adjustment, arrow in rows:
            value = float(adjustment)
            if value >= 0.005:
                assert "⬆️" in arrow
            elif value <= -0.005:
                assert "⬇️" in arrow
            else:
                assert arrow.strip() == ""

    def test_in_sample_figures_are_labelled_optimistic(self, document: dict[str, Any]) -> None:
        """The in-sample metrics are shown under an explicit "in-sample (optimistic)" label."""
        markdown = render_markdown(document)
        assert "### In-sample (optimistic)" in markdown
        assert "### Out-of-sample (this gates the map)" in markdown

    def test_picture_is_linked_when_drawn(self, document: dict[str, Any]) -> None:
        """With a picture the diagram section links it next to the report."""
        assert "](x_reliability.png)" in render_markdown(document)

    def test_missing_matplotlib_is_stated_and_the_table_kept(self, proposal: Proposal) -> None:
        """Without a picture the report says matplotlib is missing and keeps the table."""
        markdown = render_markdown(build_report_document(proposal, _context(picture=None)))
        assert "pip install 'calibration_core[plot]'" in markdown
        assert "Wilson 95% CI" in markdown

    def test_table_cells_escape_pipes(self, document: dict[str, Any]) -> None:
        """A message containing '|' (like |sum - 1|) does not break its table row."""
        markdown = render_markdown(document)
        row = next(line for line in markdown.splitlines() if line.startswith("| weight_sum"))
        assert "\\|sum - 1\\|" in row
        assert len(re.findall(r"(?<!\\)\|", row)) == 7

    def test_forced_banner_is_at_the_top(self) -> None:
        """A forced job's report opens with FORCED — NOT DEPLOYABLE."""
        markdown = render_markdown(build_report_document(_proposal(forced=True), _context()))
        head = markdown.split("## ")[0]
        assert "FORCED — NOT DEPLOYABLE" in head

    def test_do_not_apply_section_lists_the_checklist_conditions(
        self, document: dict[str, Any]
    ) -> None:
        """Section 10 names the OOS gate, failed checks, forcing, stale data, market, monitoring."""
        section = render_markdown(document).split("## 10.")[1].split("## 11.")[0]
        for phrase in (
            "out-of-sample MSE improvement is below 5%",
            "CRITICAL or ERROR",
            "forced",
            "more than 24 h old",
            "trading halt",
            "monitor for the next 24 h",
            "data_hash",
            "live config changed",
        ):
            assert phrase in section, phrase

    def test_deployment_section_has_the_exact_commands(self, document: dict[str, Any]) -> None:
        """Section 11 gives approve, rollback and rollback <base version>."""
        section = render_markdown(document).split("## 11.")[1]
        assert f"python -m calibration_core approve {JOB}" in section
        assert "python -m calibration_core rollback   #" in section
        assert "python -m calibration_core rollback cal_20260201_000000" in section

    def test_skipped_weights_state_the_reason(self) -> None:
        """Without member votes the weights section says why it was skipped."""
        markdown = render_markdown(build_report_document(_proposal(breakdown=False), _context()))
        section = markdown.split("## 7.")[1].split("## 8.")[0]
        assert "skipped" in section
        assert "model_breakdown" in section


@pytest.fixture(scope="module")
def rich_document() -> dict[str, Any]:
    """Return a report with per-symbol maps requested and consensus counts in the trades."""
    return build_report_document(_proposal(extras=True), _context())


class TestLaterSections:
    def test_without_per_symbol_the_section_says_it_was_not_requested(
        self, document: dict[str, Any]
    ) -> None:
        """Section 7a states that per-symbol calibration was not requested."""
        assert document["per_symbol"]["requested"] is False
        assert document["per_symbol"]["symbols"] == []
        section = render_markdown(document).split("## 7a.")[1].split("## 7b.")[0]
        assert "Per-symbol maps are off: per-symbol calibration was not requested" in section
        assert section.count("was not requested") == 1

    def test_per_symbol_rows_show_the_three_held_out_scores_and_the_decision(
        self, rich_document: dict[str, Any]
    ) -> None:
        """Each symbol has its trades, win rate, OOS MSE raw/global/own, decision and reason."""
        section = rich_document["per_symbol"]
        assert section["requested"] is True
        assert [r["symbol"] for r in section["symbols"]] == ["BTCUSDT", "DOGEUSDT", "ETHUSDT"]
        markdown = render_markdown(rich_document).split("## 7a.")[1].split("## 7b.")[0]
        assert "| Symbol | Trades | Win rate | OOS MSE raw | OOS MSE global map |" in markdown
        for row in section["symbols"]:
            decision = "✅ kept" if row["kept"] else "fallback"
            assert f"| {row['symbol']} | {row['n_trades']} |" in markdown
            assert f"| {decision} | {row['reason']} |" in markdown
        kept = [r["symbol"] for r in section["symbols"] if r["kept"]]
        assert sorted(rich_document["proposed_config"]["per_symbol"]["maps"]) == kept
        assert rich_document["summary"]["per_symbol_enabled"] is bool(kept)

    def test_consensus_section_shows_buckets_folds_and_the_gate(
        self, rich_document: dict[str, Any]
    ) -> None:
        """Section 7b has every bucket's multiplier, the folds and the held-out result."""
        section = rich_document["consensus"]
        assert section["available"] is True
        assert [b["bucket"] for b in section["buckets"]] == [
            "unanimous",
            "strong",
            "split",
            "weak",
        ]
        assert section["enabled"] is (section["oos_mse_improvement"] >= 0.05)
        markdown = render_markdown(rich_document).split("## 7b.")[1].split("## 8.")[0]
        assert "k = 50" in markdown
        for bucket in section["buckets"]:
            assert f"| {bucket['bucket']} | {bucket['n_trades']} |" in markdown
        assert "| Fold | Test trades | MSE without | MSE with | Change |" in markdown

    def test_without_consensus_counts_the_section_says_why(self, document: dict[str, Any]) -> None:
        """Trades without consensus_count get no multipliers, and 7b gives the reason."""
        assert document["consensus"]["available"] is False
        section = render_markdown(document).split("## 7b.")[1].split("## 8.")[0]
        assert "carry no consensus_count" in section

    def test_deployment_names_the_state_of_every_section(
        self, rich_document: dict[str, Any]
    ) -> None:
        """The closing sentence states per-symbol maps and consensus multipliers, no HOLD bias."""
        section = render_markdown(rich_document).split("## 11.")[1]
        assert "per-symbol maps " in section
        assert "consensus multipliers " in section
        assert "HOLD bias" not in section

    def test_no_hold_bias_section_and_an_old_export_still_renders(
        self, document: dict[str, Any]
    ) -> None:
        """Version 2 has no HOLD bias; a version-1 export with one renders without it."""
        assert "hold_bias" not in document
        assert "hold_bias_enabled" not in document["summary"]
        old = json.loads(render_json(document))
        old["report_schema_version"] = 1
        old["summary"]["hold_bias_enabled"] = False
        old["hold_bias"] = {"enabled": False, "bias": 0.0, "reason": "no HOLD bias proposed"}
        markdown = render_markdown(old)
        assert _headings(markdown) == list(MARKDOWN_SECTIONS)
        assert "HOLD bias" not in markdown
        assert validate_report_document(old) == [
            "report_schema_version must be 2 (got 1)",
            "unknown top-level key 'hold_bias'",
        ]

    def test_rich_document_conforms_and_round_trips(self, rich_document: dict[str, Any]) -> None:
        """The document with every later section filled validates and renders from its JSON."""
        assert validate_report_document(rich_document) == []
        parsed = json.loads(render_json(rich_document))
        assert render_markdown(parsed) == render_markdown(rich_document)


class TestWriteReport:
    def test_writes_markdown_json_and_picture_next_to_each_other(
        self, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        """The files are named after the job inside the (created) report directory."""
        paths = report_paths(tmp_path / "reports", JOB)
        write_report(paths, render_markdown(document), render_json(document), b"\x89PNG")
        assert paths.markdown.name == f"calibration_{JOB}.md"
        assert paths.json.name == f"calibration_{JOB}.json"
        assert paths.picture.name == f"calibration_{JOB}_reliability.png"
        assert json.loads(paths.json.read_text(encoding="utf-8"))["job"]["job_id"] == JOB
        assert paths.picture.read_bytes() == b"\x89PNG"


class TestReliabilityPicture:
    def test_draws_a_png(self, proposal: Proposal) -> None:
        """With matplotlib installed the diagram is a PNG image."""
        pytest.importorskip("matplotlib")
        png = render_reliability_png(proposal.reliability_raw, proposal.reliability_calibrated)
        assert png is not None
        assert png.startswith(b"\x89PNG\r\n\x1a\n")

    def test_raw_and_calibrated_are_drawn_on_the_same_trades(self, proposal: Proposal) -> None:
        """The picture's raw table covers exactly the trades of the calibrated one."""
        same = proposal.reliability_raw_same_trades
        assert same is not None
        assert sum(b.count for b in same.bins) == sum(
            b.count for b in proposal.reliability_calibrated.bins
        )
        assert proposal.out_of_sample.available
        assert sum(b.count for b in same.bins) == proposal.out_of_sample.n_evaluated

    def test_thin_bins_and_wilson_intervals_are_drawn(self, proposal: Proposal) -> None:
        """Error bars come from the table's Wilson interval; thin bins are drawn faded."""
        pytest.importorskip("matplotlib")
        same = proposal.reliability_raw_same_trades
        assert same is not None
        assert any(b.count < FEW_TRADES_PER_BIN for b in proposal.reliability_calibrated.bins)
        png = render_reliability_png(same, proposal.reliability_calibrated)
        assert png is not None
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


class TestPictureEdges:
    def test_a_bin_of_only_losses_or_only_wins_is_drawn(self) -> None:
        """All-lost and all-won bins (Wilson bounds at 0 and 1) draw; they once raised."""
        pytest.importorskip("matplotlib")
        y = [0.0] * 3 + [1.0, 0.0] * 50 + [1.0] * 13
        p = [0.05] * 3 + [0.55] * 100 + [0.95] * 13
        table = reliability_table(y, p)
        png = render_reliability_png(table, table)
        assert png is not None
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


class TestAnalysisExport:
    def test_csv_has_a_row_per_decile_and_bin_and_scope(self) -> None:
        """The CSV lists deciles and fixed bins for all trades and then each symbol."""
        rng = np.random.default_rng(3)
        analysis = analyze_confidence(
            rng.uniform(0.5, 1.0, 200), rng.normal(0, 1, 200), np.arange(200) % 2, ("A", "B")
        )
        rows = list(csv.DictReader(io.StringIO(analysis_csv(analysis))))
        per_scope = len(analysis.overall.deciles) + len(analysis.overall.bins)
        assert len(rows) == 3 * per_scope
        assert [rows[0]["scope"], rows[per_scope]["scope"], rows[-1]["scope"]] == ["all", "A", "B"]
        assert (
            sum(int(r["count"]) for r in rows if r["scope"] == "all" and r["kind"] == "bin") == 200
        )

    def test_json_document_is_versioned_and_strict(self) -> None:
        """The analysis export carries its schema version and is strict JSON."""
        analysis = analyze_confidence([0.6, 0.7], [1.0, -1.0], [0, 0], ("A",))
        document = analysis_document(
            analysis, data_path="d", data_hash="sha256:0", created_at="2026-02-10T00:00:00+00:00"
        )
        assert document["analysis_schema_version"] == 1
        json.dumps(document, allow_nan=False)


class TestGateEvidence:
    def test_report_shows_gain_lower_bound_and_trades_used(self, document: dict[str, Any]) -> None:
        """Section 1 and section 4 give the gain, its 95 % lower bound and the trades tested."""
        gate = document["confidence_map"]["gate"]
        assert gate["passed"] is document["confidence_map"]["enabled"] is True
        assert gate["n_trades"] == document["metrics"]["out_of_sample"]["n_trades"]
        assert gate["gain_lower_bound"] < gate["gain"]
        markdown = render_markdown(document)
        lower = f"{gate['gain_lower_bound']:+.1%}"
        summary_row = next(line for line in markdown.splitlines() if "Out-of-sample MSE" in line)
        assert f"95% lower bound {lower} over {gate['n_trades']} trades" in summary_row
        assert "Out-of-sample gate (≥ 5% and distinguishable from noise" in markdown
        assert gate["text"] in markdown
        assert validate_report_document(document) == []

    def test_refused_map_says_how_many_trades_it_would_need(self) -> None:
        """Calibrated noise: +7 % on 50 held-out trades is refused, "needs about M" shown."""
        rng = np.random.default_rng(12)
        x = rng.uniform(0.05, 0.95, 60)
        pnl = np.where(rng.random(60) < x, 1.0, -1.0)
        noisy = build_proposal(
            x, pnl, job_id=JOB, created_at="2026-02-10T14:30:22+00:00", data_hash="sha256:0"
        )
        document = build_report_document(noisy, _context())
        gate = document["confidence_map"]["gate"]
        assert gate["large_enough"] is True
        assert gate["distinguishable"] is False
        assert document["confidence_map"]["enabled"] is False
        needs = re.search(
            r"not distinguishable from noise at 50 held-out trades: needs about (\d+)",
            render_markdown(document),
        )
        assert needs is not None
        assert int(needs.group(1)) == gate["needed_trades"] > 50

    def test_per_symbol_and_consensus_rows_carry_their_gate(self) -> None:
        """The extras' gates are in the JSON and in their Markdown tables."""
        document = build_report_document(_proposal(extras=True), _context())
        rows = [r for r in document["per_symbol"]["symbols"] if r["n_evaluated"]]
        assert rows
        assert all(r["gate"]["n_trades"] == r["n_evaluated"] for r in rows)
        assert all(r["gate"]["passed"] for r in document["per_symbol"]["symbols"] if r["kept"])
        consensus = document["consensus"]
        if consensus["available"]:
            assert consensus["gate"]["n_trades"] == sum(
                f["test_rows"][1] - f["test_rows"][0] for f in consensus["folds"]
            )
            assert consensus["enabled"] is consensus["gate"]["passed"]
        assert "Gain (95 % lower bound, trades)" in render_markdown(document)

    def test_a_do_not_apply_job_says_approve_refuses_it(self, proposal: Proposal) -> None:
        """Stale data: the deployment section says approve refuses it without --override."""
        stale = attrs.evolve(proposal, newest_trade_age_hours=30.0)
        document = build_report_document(stale, _context())
        assert document["summary"]["recommendation"] == "DO NOT APPLY"
        assert any("--override" in note for note in document["deployment"]["notes"])
        fresh = build_report_document(proposal, _context())
        assert not any("--override" in note for note in fresh["deployment"]["notes"])
