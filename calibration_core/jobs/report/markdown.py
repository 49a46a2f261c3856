"""The Markdown view of the review report, rendered from its JSON document."""

# Pure: a function of the document alone (or of its parsed JSON export, which
# renders the same), so Markdown and JSON cannot disagree. Every string of the
# document passes through `text.escape` first, every table cell through
# `text.markdown_cell`.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from calibration_core.constants import (
    MAX_CONFIDENCE_CHANGE,
    MAX_WEIGHT,
    MAX_WEIGHT_CHANGE,
    MIN_WEIGHT,
)
from calibration_core.text import (
    escape,
    escape_controls,
    fmt_number,
    fmt_pct,
    markdown_cell,
    markdown_table,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = ["MARKDOWN_SECTIONS", "render_markdown"]

_ARROW_MIN = 0.005  # adjustments smaller than half a cent of confidence get no arrow
_WARNINGS_SHOWN = 20


def _table(header: str, rows: Iterable[Sequence[object]]) -> list[str]:
    # The header is written as it reads in the Markdown: "Item | Value".
    return markdown_table(header.split(" | "), rows)


def _state(enabled: bool) -> str:
    return "ENABLED" if enabled else "DISABLED"


def _signed(value: float | None) -> str:
    return fmt_pct(value, signed=True)


def _change(improvement: float | None) -> str:
    # A fold's MSE change: the negative of its improvement.
    return _signed(None if improvement is None else -improvement)


def _numbers(*values: float | None, digits: int = 4) -> list[str]:
    return [fmt_number(value, digits) for value in values]


def _mark(passed: object) -> str:
    return "✅" if passed else "❌"


def _adjusted(adjustment: float) -> str:
    # A signed move with an arrow when it is clear.
    if adjustment >= _ARROW_MIN:
        return f"{adjustment:+.3f} ⬆️"
    return f"{adjustment:+.3f} ⬇️" if adjustment <= -_ARROW_MIN else f"{adjustment:+.3f}"


def _escaped(value: Any) -> Any:  # noqa: ANN401 - mirrors the JSON document's shape
    """Return the document with every string (keys too) passed through `text.escape`."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape(k) if isinstance(k, str) else k: _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


def _gate_md(gate: Mapping[str, Any] | None) -> list[str]:
    # The out-of-sample gate's evidence: gain, lower bound, trades used, verdict.
    if gate is None:
        return []
    return [
        "",
        (
            f"Out-of-sample gate (≥ {gate['min_gain']:.0%} and distinguishable from noise, "
            f"one-sided paired t-test at {gate['confidence']:.0%}): {gate['text']}."
        ),
        "",
    ]


def _gate_cell(gate: Mapping[str, Any] | None) -> str:
    if gate is None:
        return "—"
    bound = _signed(gate["gain_lower_bound"])
    return f"{_signed(gate['gain'])} (≥ {bound}, {gate['n_trades']} trades)"


def _preflight_text(preflight: Mapping[str, Any] | None) -> str:
    if not preflight:
        return "not configured (--preflight / CALIBRATION_PREFLIGHT)"
    if preflight.get("skipped"):
        return f"SKIPPED (--force) — `{preflight.get('source')}`"
    probes = preflight.get("probes") or []
    failed = [p for p in probes if not p.get("passed")]
    if not failed:
        return f"✅ {len(probes)}/{len(probes)} probes passed (`{preflight.get('source')}`)"
    first = failed[0]
    return (
        f"❌ {len(failed)} of {len(probes)} probes failed — "
        f"{first.get('name')}: {first.get('detail')}"
    )


# --------------------------------------------------------------------------- sections


def _summary_md(doc: Mapping[str, Any]) -> list[str]:
    job, summary, data = doc["job"], doc["summary"], doc["data"]
    weights, risk, validation = doc["weights"], doc["risk"], doc["validation"]
    oos, in_sample = doc["metrics"]["out_of_sample"], doc["metrics"]["in_sample"]
    recommendation = summary["recommendation"]
    mark = _mark(recommendation == "APPROVE CANDIDATE")
    lines = [f"**Recommendation: {mark} {recommendation}**", ""]
    if summary["reasons"]:
        lines.extend([*(f"- {reason}" for reason in summary["reasons"]), ""])
    elif recommendation == "APPROVE CANDIDATE":
        lines.append(
            "The tool found no reason not to apply. Before approving, go through "
            "section 10 yourself: some conditions only you can check."
        )
        lines.append("")
    oos_text = (
        f"{_signed(summary['oos_mse_improvement'])} "
        f"(MSE {fmt_number(oos['raw']['mse'])} → {fmt_number(oos['calibrated']['mse'])}, "
        f"{oos['n_trades']} held-out trades, {oos['n_folds']} folds)"
        if oos["available"]
        else f"not available ({oos['note']})"
    )
    gate = doc["confidence_map"].get("gate")
    if gate is not None:
        oos_text += (
            f"; {gate['confidence']:.0%} lower bound "
            f"{_signed(gate['gain_lower_bound'])} over {gate['n_trades']} trades"
        )
    weights_text = {"proposed": "PROPOSED", "no_change": "NO CHANGE"}.get(weights["status"])
    per_symbol = doc["per_symbol"]
    if not per_symbol["requested"]:
        per_symbol_text = "NOT REQUESTED — every symbol uses the global map"
    elif per_symbol["enabled"]:
        kept = ", ".join(r["symbol"] for r in per_symbol["symbols"] if r["kept"])
        per_symbol_text = f"ENABLED for {kept} — the other symbols use the global map"
    else:
        per_symbol_text = f"DISABLED — {per_symbol['reason']}"
    consensus, n_checks = doc["consensus"], len(validation["checks"])
    n_passed = sum(1 for c in validation["checks"] if c["passed"])
    verdict = "✅ PASSED" if validation["passed"] else "❌ FAILED"
    span = f"{data['span_days']:.1f} days ({data['first_timestamp']} → {data['last_timestamp']})"
    in_sample_text = f"({in_sample['n_trades']} trades the map was fitted on)"
    map_text = f"{_state(summary['confidence_map_enabled'])} — {doc['confidence_map']['reason']}"
    rows = [
        ["Job", f"`{job['job_id']}`"],
        ["Status", f"{job['status']}{' — FORCED, NOT DEPLOYABLE' if job['forced'] else ''}"],
        ["Created", job["created_at"]],
        ["Trades", f"{data['n_trades']} over {span}, {data['n_symbols']} symbols"],
        ["Out-of-sample MSE improvement", oos_text],
        [
            "In-sample MSE improvement (optimistic)",
            f"{_signed(summary['in_sample_mse_improvement'])} {in_sample_text}",
        ],
        ["Confidence map", map_text],
        [
            "Largest confidence change",
            f"{summary['max_confidence_change']:.3f} (bound ±{MAX_CONFIDENCE_CHANGE})",
        ],
        ["Ensemble weights", f"{weights_text or 'SKIPPED'} — {weights['reason']}"],
        ["Per-symbol maps", per_symbol_text],
        ["Consensus multipliers", f"{_state(consensus['enabled'])} — {consensus['reason']}"],
        ["Validation", f"{verdict} ({n_passed}/{n_checks} checks passed)"],
        ["Risk", f"{risk['score']:.1%} ({risk['category']})"],
        ["Live config (base)", job["live_config_note"]],
        ["Pre-flight (checklist 0.1)", _preflight_text(doc["authorization"].get("preflight"))],
        ["Data hash", f"`{job['data_hash']}`"],
    ]
    return [*lines, *_table("Item | Value", rows)]


def _dialect_rows(data: Mapping[str, Any]) -> list[list[Any]]:
    # The win definition used and the system's other two, side by side (issue 9 §1).
    rows: list[list[Any]] = []
    if "outcome_definition_text" in data:
        definition = (
            f"{data['outcome_definition_text']} ({data.get('trades_in_fit')} trades in the fit)"
        )
        rows.append(["Outcome definition", definition])
    labels = data.get("outcome_label")
    if labels and labels.get("labelled"):
        rate = f"{fmt_pct(labels['win_rate'], missing='n/a')} of {labels['labelled']} labelled"
        decided = f"{labels['wins']}/{labels['wins'] + labels['losses']}"
        cadence = f"{fmt_pct(labels['cadence_win_rate'], missing='n/a')} ({decided})"
        rows.append(["Win rate by outcome_label (NEUTRAL counts as not won)", rate])
        rows.append(["Win rate as the cadence service counts it, WIN/(WIN+LOSS)", cadence])
    elif labels is not None:
        rows.append(["Win rate by outcome_label", "n/a (no trade carries an outcome_label)"])
    zoneless = data.get("zoneless_timestamps")
    if zoneless and zoneless.get("count"):
        first = ", ".join(str(n) for n in zoneless["first_lines"])
        zones = f"{zoneless['count']} (first lines {first})"
        rows.append(["Timestamps without a zone (read as UTC)", zones])
    if data.get("duplicates_dropped"):
        rows.append(["Duplicates dropped (--drop-duplicates)", data["duplicates_dropped"]])
    if data.get("problems_file"):
        rows.append(["Problems file", f"`{data['problems_file']}`"])
    return rows


def _authorization_md(auth: Mapping[str, Any]) -> list[str]:
    forced = " — overridden with --force" if auth.get("forced") else ""
    lines = [
        "**Learning Cadence authorization**",
        "",
        f"- Status: {auth.get('status')}{forced}",
        f"- Reason: {auth.get('reason')}",
        f"- Allowed actions: {auth.get('allowed_actions')}",
    ]
    api = auth.get("api")
    if api:
        lines.append(f"- API {api.get('url')}: {api.get('reason')}")
        if api.get("stats"):
            stats = ", ".join(f"{key}={value}" for key, value in api["stats"].items())
            lines.append(f"- Cadence stats (GET /readiness): {markdown_cell(stats)}")
    preflight = auth.get("preflight")
    if preflight:
        lines.append(f"- Pre-flight: {markdown_cell(_preflight_text(preflight))}")
        for probe in preflight.get("probes") or []:
            name, detail = markdown_cell(probe.get("name")), markdown_cell(probe.get("detail"))
            lines.append(f"  - {_mark(probe.get('passed'))} {name}: {detail}")
    levels = auth.get("levels") or []
    if levels:
        rows = [[v.get("name"), _mark(v.get("authorized")), v.get("reason")] for v in levels]
        lines.extend(["", *_table("Level | Authorized | Reason", rows)])
    return lines


def _data_md(doc: Mapping[str, Any]) -> list[str]:
    data = doc["data"]
    rows = [
        ["Trades", data["n_trades"]],
        ["Symbols", f"{data['n_symbols']}: {', '.join(data['symbols'])}"],
        ["Wins", f"{data['wins']} ({data['win_rate']:.1%})"],
        ["Losses", f"{data['losses']} ({data['loss_rate']:.1%})"],
        [
            "Neutral (also counted as win or loss)",
            f"{data['neutral']} ({data['neutral_rate']:.1%})",
        ],
        ["PnL exactly 0.0 (suspect)", data["zero_pnl"]],
        ["First trade", data["first_timestamp"]],
        ["Last trade", data["last_timestamp"]],
        ["Span", f"{data['span_days']:.2f} days"],
        ["File", f"`{doc['job']['data_path']}`"],
        *_dialect_rows(data),
    ]
    lines = [*_table("Item | Value", rows), ""]
    # The zone-less note is a table row (count and first lines), reported once.
    tabled = {f["message"] for f in data.get("findings", ()) if f["kind"] == "zoneless_timestamp"}
    warnings = [w for w in data["warnings"] if w not in tabled]
    if warnings:
        lines.extend([f"**Warnings ({len(warnings)}):**", ""])
        lines.extend(f"- {markdown_cell(w)}" for w in warnings[:_WARNINGS_SHOWN])
        if len(warnings) > _WARNINGS_SHOWN:
            more = len(warnings) - _WARNINGS_SHOWN
            lines.append(f"- … and {more} more (all are in the JSON export)")
        lines.append("")
    else:
        lines.extend(["No data warnings.", ""])
    return [*lines, *_authorization_md(doc["authorization"])]


def _scores_table(comparison: Mapping[str, Any]) -> list[str]:
    rows: list[list[object]] = []
    for key, name in (("mse", "MSE (Brier)"), ("ece", "ECE"), ("log_loss", "Log loss")):
        raw, cal = comparison["raw"][key], comparison["calibrated"][key]
        change = None if raw is None or cal is None or raw == 0 else (cal - raw) / raw
        rows.append([name, fmt_number(raw), fmt_number(cal), _signed(change)])
    return _table("Metric | Raw | Calibrated | Change", rows)


def _metrics_md(doc: Mapping[str, Any]) -> list[str]:
    oos, in_sample = doc["metrics"]["out_of_sample"], doc["metrics"]["in_sample"]
    lines = ["### Out-of-sample (this gates the map)", ""]
    if oos["available"]:
        lines.append(
            f"Forward-chaining: the time-sorted trades are cut into {oos['n_folds'] + 1} "
            f"contiguous chunks; fold *i* fits the bounded map on chunks 0…*i*-1 and scores "
            f"chunk *i*. Pooled over {oos['n_trades']} held-out trades."
        )
        if oos["note"]:
            lines.append(f"Note: {oos['note']}.")
        folds: list[list[object]] = []
        for f in oos["folds"]:
            mse = _numbers(f["mse_raw"], f["mse_calibrated"])
            folds.append(
                [f["fold"], f["n_train"], f["n_test"], *mse, _change(f["mse_improvement"])]
            )
        header = "Fold | Train trades | Test trades | MSE raw | MSE calibrated | Change"
        lines.extend(["", *_scores_table(oos), "", *_table(header, folds)])
    else:
        lines.append(f"Not available: {oos['note']}. The map stays disabled.")
    lines.extend(["", "### In-sample (optimistic)", ""])
    lines.append(
        "The map scored on the same trades it was fitted on. Isotonic regression always "
        "fits its own data at least as well as the raw confidence, so this figure "
        "overstates the benefit; it is shown for comparison only."
    )
    return [*lines, "", *_scores_table(in_sample)]


def _mapping_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["confidence_map"]
    lines = [
        (
            f"Map **{_state(section['enabled'])}**: {section['reason']}. Isotonic fit on all "
            f"trades, every value bounded to ±{section['max_change']} of the raw confidence "
            f"(largest change {section['max_abs_change']:.3f}, {section['n_knots']} knots)."
        ),
        *_gate_md(section.get("gate")),
    ]
    if not section["enabled"]:
        lines.append("The table shows what the map would do; the proposal does not enable it.")
    rows = [
        [f"{r['predicted']:.2f}", f"{r['calibrated']:.3f}", _adjusted(r["adjustment"])]
        for r in section["table"]
    ]
    return [*lines, "", *_table("Predicted Confidence | Calibrated | Adjustment", rows)]


def _diagram_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["reliability"]
    if not section["picture"]:
        return [f"No picture: {section['picture_note']} The reliability table follows."]
    return [
        (
            f"![Reliability diagram: {section['raw']['label']} vs "
            f"{section['calibrated']['label']}]({section['picture']})"
        ),
        "",
        (
            "Points on the diagonal are honest: the observed win rate equals the confidence. "
            "The bars below show how many trades each bin holds."
        ),
    ]


def _reliability_md(doc: Mapping[str, Any]) -> list[str]:
    header = "Bin | Count | Mean predicted | Observed win rate | Wilson 95% CI"
    lines: list[str] = []
    for key in ("raw", "calibrated"):
        table = doc["reliability"][key]
        rows: list[list[object]] = []
        for b in table["bins"]:
            means = _numbers(b["mean_predicted"], b["observed_rate"], digits=3)
            ci = "—" if b["ci_low"] is None else f"{b['ci_low']:.3f}–{b['ci_high']:.3f}"
            rows.append([f"{b['lower']:.1f}–{b['upper']:.1f}", b["count"], *means, ci])
        lines.append(f"**{table['label'].capitalize()}** ({table['n_trades']} trades)")
        lines.extend(["", *_table(header, rows), ""])
    lines.append(
        "A bin is honest when its observed win rate lies inside the Wilson interval around "
        "its mean predicted confidence; small bins have wide intervals."
    )
    return lines


def _weights_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["weights"]
    if section["status"] == "skipped":
        return [f"Ensemble weight calibration was skipped: {section['reason']}."]
    if section["carried_over"]:
        state = "ENABLED — the live weights, carried over unchanged"
    else:
        state = "ENABLED" if section["enabled"] else "not enabled"
    rows: list[list[object]] = []
    for c in section["changes"]:
        moved = _adjusted(c["delta"]), f"{c['change_pct']:+.1f}%"
        rows.append([c["model"], f"{c['before']:.3f}", f"{c['after']:.3f}", *moved, c["reason"]])
    return [
        (
            f"Starting weights: {section['current_source']}. Proposal: {section['reason']}. "
            f"In the proposed config the weights are **{state}**. Bounds: each weight in "
            f"[{MIN_WEIGHT}, {MAX_WEIGHT}], at most ±{MAX_WEIGHT_CHANGE:.0%} of its current value, "
            "sum 1."
        ),
        "",
        *_table("Model | Before | After | Delta | Change % | Reason", rows),
        "",
        (
            f"Weighted-vote precision of the historical member votes: "
            f"{fmt_number(section['vote_precision_before'], 3)} with the current weights, "
            f"{fmt_number(section['vote_precision_after'], 3)} with the proposed ones "
            "(checked by `no_degradation:ensemble_vote_precision`)."
        ),
    ]


def _per_symbol_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["per_symbol"]
    if not section["requested"]:
        return [
            (
                f"Per-symbol maps are off: {section['reason']}. Every symbol uses the global map, "
                "and the proposed config keeps per-symbol maps disabled."
            )
        ]
    header = (
        "Symbol | Trades | Win rate | OOS MSE raw | OOS MSE global map | OOS MSE symbol map"
        " | Gain (95 % lower bound, trades) | Decision | Reason"
    )
    rows: list[list[object]] = []
    for r in section["symbols"]:
        mse = _numbers(r["oos_mse_raw"], r["oos_mse_global"], r["oos_mse_symbol"])
        decision = [_gate_cell(r.get("gate")), "✅ kept" if r["kept"] else "fallback", r["reason"]]
        rows.append([r["symbol"], r["n_trades"], fmt_pct(r["win_rate"]), *mse, *decision])
    return [
        f"Per-symbol maps **{_state(section['enabled'])}** — {section['reason']}.",
        "",
        (
            f"Rule: {section['rule']}. A symbol without a map of its own gets the "
            f"{section['fallback']} (the fallback). MSE is the Brier score on the symbol's "
            "held-out trades, pooled over its folds."
        ),
        "",
        *_table(header, rows),
    ]


def _consensus_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["consensus"]
    lines = [f"Consensus multipliers **{_state(section['enabled'])}** — {section['reason']}."]
    if not section["available"]:
        return lines
    header = "Bucket | Trades | Win rate | Mean confidence | Raw multiplier"
    buckets: list[list[object]] = []
    for b in section["buckets"]:
        means = _numbers(b["mean_confidence"], b["raw_multiplier"], digits=3)
        shrunk = f"{b['multiplier']:.3f}"
        buckets.append([b["bucket"], b["n_trades"], fmt_pct(b["win_rate"]), *means, shrunk])
    folds: list[list[object]] = []
    for f in section["folds"]:
        mse = _numbers(f["mse_before"], f["mse_after"])
        n_test = f["test_rows"][1] - f["test_rows"][0]
        folds.append([f["fold"], n_test, *mse, _change(f["mse_improvement"])])
    return [
        *lines,
        "",
        (
            f"Buckets by the share of the models that voted on a trade which agreed with its "
            f"side (all → unanimous, ≥ 75 % strong, ≥ 50 % split, else weak); "
            f"{section['n_trades_bucketed']} trades have a bucket, "
            f"{section['n_trades_unbucketed']} do not (they keep a multiplier of 1). "
            f"Each multiplier scales {section['baseline']}: {section['rule']}."
        ),
        "",
        *_table(f"{header} | Multiplier (shrunk, clamped)", buckets),
        "",
        (
            f"Out of sample (multipliers estimated on the earlier folds only): MSE "
            f"{fmt_number(section['oos_mse_before'])} without → "
            f"{fmt_number(section['oos_mse_after'])} with "
            f"the multipliers ({_signed(section['oos_mse_improvement'])})."
        ),
        *_gate_md(section.get("gate")),
        "",
        *_table("Fold | Test trades | MSE without | MSE with | Change", folds),
        "",
        (
            f"Map and multiplier together move a raw confidence by at most "
            f"{section['max_abs_change']:.3f} (bound ±{MAX_CONFIDENCE_CHANGE}); the multipliers "
            f"are clamped into the interval that keeps it so."
        ),
    ]


def _validation_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["validation"]

    def value(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows: list[list[object]] = []
    for c in section["checks"]:
        measured = value(c["value"]), value(c["threshold"])
        rows.append([c["name"], c["severity"], _mark(c["passed"]), *measured, c["message"]])
    return [
        f"Validation: **{'✅ PASSED' if section['passed'] else '❌ FAILED'}**",
        "",
        *_table("Check | Severity | Passed | Value | Threshold | Message", rows),
        "",
        (
            "`no_degradation:oos_brier` compares the out-of-sample MSE of the confidence that "
            "would be deployed with the raw one (with the map disabled both are the raw "
            "confidence); `no_degradation:ensemble_vote_precision` replays the historical member "
            "votes with the current and the proposed weights."
        ),
    ]


def _risk_md(doc: Mapping[str, Any]) -> list[str]:
    risk = doc["risk"]
    rows = [
        ["Score", f"{risk['score']:.1%}"],
        ["Category", risk["category"]],
        ["Blocks deployment", "yes — deployment is blocked" if risk["blocks_deployment"] else "no"],
        ["Critical failures", risk["critical_failures"]],
        ["Error failures", risk["error_failures"]],
        ["Warning failures", risk["warning_failures"]],
        ["Checks", risk["total_checks"]],
    ]
    return [f"Risk score = {risk['formula']}.", "", *_table("Item | Value", rows)]


def _do_not_apply_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["do_not_apply_if"]
    lines: list[str] = []
    if section["triggered"]:
        lines.extend(["**The tool found these in this job — do not apply:**", ""])
        lines.extend(f"- ❌ {t}" for t in section["triggered"])
    else:
        lines.append("The tool found none of the conditions it can check in this job.")
    marks = {True: "❌", False: "✅", None: "❓"}
    rows = [[marks[c["triggered"]], c["condition"], c["this_job"]] for c in section["conditions"]]
    return [
        *lines,
        "",
        "Do not apply this proposal if any of these holds (❓ = only you can check):",
        "",
        *_table(" | Condition | This job", rows),
    ]


def _proposed_config_text(config: Mapping[str, Any]) -> str:
    weights, per_symbol = config["ensemble_weights"], config["per_symbol"]
    consensus = config["consensus_multipliers"]
    weight_text = "disabled"
    if weights["enabled"]:
        weight_text = ", ".join(f"{m} {w:.3f}" for m, w in weights["weights"].items())
    symbols = [s for s, m in per_symbol["maps"].items() if m["enabled"]]
    per_symbol_text = "disabled"
    if per_symbol["enabled"] and symbols:
        per_symbol_text = f"enabled for {', '.join(symbols)}"
    consensus_text = "disabled"
    if consensus["enabled"]:
        consensus_text = ", ".join(f"{b} {m:.3f}" for b, m in consensus["multipliers"].items())
    map_text = "enabled" if config["confidence_calibration"]["enabled"] else "disabled"
    return (
        f"The proposed config `{config['version']}`: confidence map {map_text}, ensemble "
        f"weights {weight_text}; per-symbol maps {per_symbol_text}; consensus multipliers "
        f"{consensus_text}. The full document is in the JSON export under `proposed_config`."
    )


def _deployment_md(doc: Mapping[str, Any]) -> list[str]:
    section = doc["deployment"]
    lines = [*(f"> ⛔ {note}" for note in section["notes"])]
    if section["notes"]:
        lines.append("")
    lines.extend(
        [
            "Nothing has been applied. To deploy this proposal after reviewing it:",
            "",
            "```bash",
            section["approve"],
            "```",
            "",
            (
                "Then monitor for 24–48 hours (checklist 4.2: PnL drift, win-rate delta < 5 %, "
                "HOLD rate, confidence distribution within 0.50–0.95). To undo:"
            ),
            "",
            "```bash",
            f"{section['rollback']}   # back to the previous config",
        ]
    )
    if section["rollback_to_version"]:
        lines.append(f"{section['rollback_to_version']}   # the config live when this job ran")
    return [*lines, "```", "", _proposed_config_text(doc["proposed_config"])]


_SECTIONS = (
    ("1. Summary", _summary_md),
    ("2. Data", _data_md),
    ("3. Before / after metrics", _metrics_md),
    ("4. Confidence mapping", _mapping_md),
    ("5. Reliability diagram", _diagram_md),
    ("6. Reliability table", _reliability_md),
    ("7. Ensemble weights", _weights_md),
    ("7a. Per-symbol calibration", _per_symbol_md),
    ("7b. Consensus multipliers", _consensus_md),
    ("8. Validation", _validation_md),
    ("9. Risk", _risk_md),
    ("10. DO NOT APPLY IF …", _do_not_apply_md),
    ("11. Deployment", _deployment_md),
)

MARKDOWN_SECTIONS = tuple(heading for heading, _ in _SECTIONS)
"""The ``##`` headings of the Markdown report, in order: the eleven required sections,
with 7a-7b (per-symbol maps, consensus multipliers) after the weights."""


def render_markdown(document: Mapping[str, Any]) -> str:
    """Render the report document as Markdown, sections in :data:`MARKDOWN_SECTIONS` order.

    Parameters
    ----------
    document : mapping
        The output of :func:`build_report_document` (or the parsed JSON export).

    Returns
    -------
    str
        The report, one line per Markdown line, ending with a newline; untrusted
        text in it is escaped (`text.escape`, `text.markdown_cell`).
    """
    # Symbols, model names and reasons come from files and APIs: none of them may
    # start a line of its own or carry a control character into the report.
    document = _escaped(document)
    job = document["job"]
    lines = [f"# Calibration report `{job['job_id']}`", ""]
    if job["forced"]:
        lines.append(
            "> ⛔ **FORCED — NOT DEPLOYABLE.** This job was run with `--force` past the "
            "Learning Cadence gate. It is for inspection only; approve refuses it."
        )
        lines.append("")
    lines.append(
        "Calibration corrects the honesty of the ensemble's confidence; it does not optimise "
        "profit. Nothing in this report has been applied."
    )
    for heading, section in _SECTIONS:
        lines.extend(["", f"## {heading}", "", *section(document)])
    return escape_controls("\n".join(lines)) + "\n"
