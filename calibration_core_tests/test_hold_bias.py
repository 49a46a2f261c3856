"""Tests of the HOLD bias: the pure estimate on judged HOLD signals, and "no evidence" today."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from calibration_core.config import MAX_HOLD_BIAS, CalibrationConfig, HoldBias
from calibration_core.constants import MIN_CONFIDENCE_IMPROVEMENT
from calibration_core.core.analysis import (
    NO_HOLD_OUTCOMES,
    HoldEvidence,
    build_proposal,
    propose_hold_bias,
)
from calibration_core.exceptions import InvalidInputError
from calibration_core.runtime.snapshot import Snapshot

JOB = "cal_20260210_143022"
CREATED = "2026-02-10T14:30:22+00:00"


def judged_holds(n: int, *, shift: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """HOLD confidences and whether holding was right, right ``shift`` more often than stated."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.3, 0.7, n)
    right = rng.random(n) < np.clip(confidence + shift, 0.0, 1.0)
    return confidence, right


def overconfident_trades(n: int = 600, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return executed trades whose map passes its gate, so a proposal is acceptable."""
    rng = np.random.default_rng(seed)
    confidence = np.round(0.5 + 0.47 * rng.beta(2.0, 2.5, n), 4)
    wins = rng.random(n) < 0.36 + 0.62 * (confidence - 0.5)
    return confidence, np.where(wins, 1.0, -1.0) * rng.uniform(0.06, 2.0, n)


class TestNoEvidence:
    def test_the_trades_file_gives_no_hold_bias_and_says_why(self) -> None:
        """With no judged HOLD signal the bias is disabled, 0.0, with the contract's reason."""
        result = propose_hold_bias(HoldEvidence.none())
        assert not result.enabled
        assert result.bias == 0.0
        assert result.reason == (
            "no HOLD bias proposed: the trades file records only executed BUY/SELL trades, "
            "so no HOLD signal has an outcome to judge"
        )
        assert not result.evaluated
        assert result.section() == HoldBias()

    def test_too_little_evidence_is_not_estimated(self) -> None:
        """Fewer than 50 judged HOLD signals: disabled, and the reason gives the count."""
        result = propose_hold_bias(HoldEvidence.from_signals(*judged_holds(49, shift=0.2)))
        assert not result.enabled
        assert result.n_signals == 49
        assert "only 49 judged HOLD signals, at least 50 are needed" in result.reason
        assert math.isnan(result.estimated_bias)

    def test_run_proposes_no_hold_bias_and_no_hold_checks(self) -> None:
        """build_proposal without HOLD evidence keeps the section disabled, with no checks."""
        x, pnl = overconfident_trades()
        proposal = build_proposal(x, pnl, job_id=JOB, created_at=CREATED, data_hash="h")
        assert proposal.hold_bias.reason == f"no HOLD bias proposed: {NO_HOLD_OUTCOMES}"
        assert proposal.config.hold_bias == HoldBias()
        assert not any(c.name.startswith("hold") for c in proposal.validation.checks)

    def test_a_live_hold_bias_is_never_switched_off_silently(self) -> None:
        """A live, enabled HOLD bias that the proposal cannot renew is named as switched off."""
        x, pnl = overconfident_trades()
        live = CalibrationConfig(
            version="cal_20260201_000000",
            created_at=CREATED,
            hold_bias=HoldBias(enabled=True, bias=0.05),
        )
        proposal = build_proposal(
            x, pnl, job_id=JOB, created_at=CREATED, data_hash="h", live_config=live
        )
        assert proposal.turns_off == ("the HOLD bias",)
        assert proposal.recommendation == "DO NOT APPLY"


class TestWithEvidence:
    def test_a_systematic_bias_is_estimated_bounded_and_enabled(self) -> None:
        """Holding right 13 points more often than stated gives a bias near +0.13, enabled."""
        evidence = HoldEvidence.from_signals(*judged_holds(2000, shift=0.13))
        result = propose_hold_bias(evidence)
        assert result.enabled
        assert result.bias == pytest.approx(0.13, abs=0.015)
        assert result.improvement >= MIN_CONFIDENCE_IMPROVEMENT
        assert result.n_evaluated > 0
        assert result.section() == HoldBias(enabled=True, bias=result.bias)

    def test_a_bias_beyond_the_bound_is_limited_and_says_so(self) -> None:
        """An estimate past ±0.15 is clipped to the bound and the reason names the estimate."""
        result = propose_hold_bias(HoldEvidence.from_signals(*judged_holds(2000, shift=-0.3)))
        assert result.bias == -MAX_HOLD_BIAS
        assert result.estimated_bias < -MAX_HOLD_BIAS
        assert "limited to ±0.15" in result.reason

    def test_honest_hold_confidence_is_not_enabled(self) -> None:
        """When HOLD confidence already matches how often holding was right, nothing is enabled."""
        result = propose_hold_bias(HoldEvidence.from_signals(*judged_holds(2000, shift=0.0)))
        assert result.evaluated
        assert not result.enabled
        assert "proposed DISABLED" in result.reason
        assert "is below the 5% minimum" in result.reason

    @settings(max_examples=40)
    @given(
        seed=st.integers(0, 2**32 - 1),
        n=st.integers(50, 400),
        shift=st.floats(-0.6, 0.6),
    )
    def test_the_bias_never_exceeds_the_bound(self, seed: int, n: int, shift: float) -> None:
        """|bias| ≤ 0.15 whatever the evidence, and disabled unless the held-out gain is 5 %."""
        result = propose_hold_bias(
            HoldEvidence.from_signals(*judged_holds(n, shift=shift, seed=seed))
        )
        assert abs(result.bias) <= MAX_HOLD_BIAS
        if result.enabled:
            assert result.improvement >= MIN_CONFIDENCE_IMPROVEMENT

    def test_the_proposal_deploys_it_with_its_checks_and_the_runtime_applies_it(self) -> None:
        """With evidence the config enables the bias; apply_hold_bias adds it and clips."""
        x, pnl = overconfident_trades()
        evidence = HoldEvidence.from_signals(*judged_holds(2000, shift=0.13))
        proposal = build_proposal(
            x, pnl, job_id=JOB, created_at=CREATED, data_hash="h", hold_evidence=evidence
        )
        names = [c.name for c in proposal.validation.checks]
        for name in ("hold_bias_bound", "hold_bias_improvement", "no_degradation:hold_oos_brier"):
            assert name in names
        assert proposal.validation.passed
        config = CalibrationConfig.from_json(proposal.config.to_json())
        assert config.hold_bias.enabled
        # The runtime no longer applies a HOLD bias: apply_hold_bias is a no-op.
        assert Snapshot.from_config(config).apply_hold_bias(0.5) == 0.5


class TestHoldEvidence:
    @pytest.mark.parametrize(
        ("confidence", "held_right", "pattern"),
        [
            ([0.5, 1.2], [True, False], r"confidence must lie in \[0, 1\]"),
            ([0.5, math.nan], [True, False], r"confidence must lie in \[0, 1\]"),
            ([0.5, 0.6], [True], r"held_right must be booleans of shape \(2,\)"),
            ([0.5, 0.6], [1, 0], "held_right must be booleans"),
        ],
    )
    def test_rejects_bad_signals(
        self, confidence: list[float], held_right: list[bool] | list[int], pattern: str
    ) -> None:
        """Malformed evidence is refused with a message naming the argument."""
        with pytest.raises(InvalidInputError, match=pattern):
            HoldEvidence.from_signals(confidence, held_right)

    def test_no_evidence_needs_a_reason(self) -> None:
        """Evidence that there is no evidence always says why."""
        with pytest.raises(InvalidInputError, match="reason must say why"):
            HoldEvidence.none("")

    def test_evidence_is_a_copy(self) -> None:
        """Changing the caller's array afterwards does not change the evidence."""
        confidence = np.array([0.4, 0.6])
        evidence = HoldEvidence.from_signals(confidence, [True, False])
        confidence[0] = 0.9
        assert evidence.confidence[0] == 0.4
