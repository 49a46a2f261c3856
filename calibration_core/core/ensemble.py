"""The ensemble-weights step of a proposal: the weighted vote, the starting weights, the checks."""

# Pure: imports only math, numpy, attrs and calibration_core's pure modules (exceptions,
# weights, validation) plus config.py for the live weights and the model-name rule.

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from calibration_core.config import MODEL_NAME_PATTERN
from calibration_core.core.validation import (
    CheckResult,
    check_max_weight_change,
    check_no_degradation,
    check_weight_bounds,
    check_weight_sum,
)
from calibration_core.core.weights import (
    ACTION_BUY,
    ACTION_SELL,
    WeightProposal,
    equal_weights,
    measure_model_performance,
    propose_weights,
)
from calibration_core.exceptions import InfeasibleWeightsError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from calibration_core.config import CalibrationConfig

__all__ = [
    "WEIGHTS_NO_CHANGE",
    "WEIGHTS_PROPOSED",
    "WEIGHTS_SKIPPED",
    "VotePrecision",
    "WeightAnalysis",
    "analyze_weights",
    "choose_current_weights",
    "weight_checks",
    "weighted_vote_precision",
]

_TIE = 1e-12  # a weighted vote this close to 0 is a tie: the ensemble took no side


@attrs.frozen
class VotePrecision:
    """How often the weighted vote of the ensemble picked the right direction.

    Attributes
    ----------
    correct : int
        Trades on which the weighted vote was right.
    n_sided : int
        Trades on which the weighted vote took a side (not a tie).
    """

    correct: int
    n_sided: int

    @property
    def precision(self) -> float:
        """``correct / n_sided``, NaN when the vote never took a side."""
        return self.correct / self.n_sided if self.n_sided else math.nan


def weighted_vote_precision(
    actions: npt.ArrayLike,
    sides: npt.ArrayLike,
    wins: npt.ArrayLike,
    weights: npt.ArrayLike,
) -> VotePrecision:
    """Replay the historical member votes with ``weights`` and count right directions.

    Parameters
    ----------
    actions : array_like of int, shape (n, m)
        Member votes (``ACTION_BUY`` +1, ``ACTION_SELL`` -1; HOLD and missing
        count as 0).
    sides : array_like of int, shape (n,)
        The side traded, +1 or -1.
    wins : array_like of bool, shape (n,)
        Whether the trade won.
    weights : array_like of float, shape (m,)
        One weight per column of ``actions``.

    Returns
    -------
    VotePrecision

    Notes
    -----
    The vote is ``s = Σ_m w_m v_m`` with ``v_m ∈ {+1, -1, 0}``; the ensemble
    says ``sign(s)`` (a tie, ``|s| < 1e-12``, says nothing). The right
    direction of a trade is its side when it won and the opposite side when
    it lost, the same rule :func:`~calibration_core.core.weights.measure_model_performance`
    uses for a single model.
    """
    votes = np.asarray(actions)
    w = np.asarray(weights, dtype=np.float64)
    if votes.ndim != 2 or votes.shape[1] != w.size:  # noqa: PLR2004 - a 2-D table
        raise InvalidInputError(
            f"actions must have shape (n, {w.size}) to match the weights (got {votes.shape})"
        )
    side = np.asarray(sides)
    won = np.asarray(wins, dtype=np.bool_)
    if side.shape != (votes.shape[0],) or won.shape != side.shape:
        raise InvalidInputError(
            f"sides and wins must have shape ({votes.shape[0]},) (got {side.shape} and {won.shape})"
        )
    direction = np.where(votes == ACTION_BUY, 1.0, np.where(votes == ACTION_SELL, -1.0, 0.0))
    score = direction @ w
    sided = np.abs(score) >= _TIE
    right_direction = np.where(won, side, -side)
    correct = sided & (np.sign(score) == right_direction)
    return VotePrecision(correct=int(correct.sum()), n_sided=int(sided.sum()))


def choose_current_weights(
    model_names: Sequence[str], live_config: CalibrationConfig | None
) -> tuple[dict[str, float], str]:
    """Pick the weights a proposal starts from.

    Parameters
    ----------
    model_names : sequence of str
        The member models found in the trades.
    live_config : CalibrationConfig or None
        The live config, if one could be read.

    Returns
    -------
    weights : dict of str to float
        The live weights (in the order of ``model_names``) when the live config
        has enabled weights for exactly this model set, else equal weights.
    source : str
        One line saying which, for the report.

    Raises
    ------
    InfeasibleWeightsError
        When equal weights are needed but the model count is infeasible.
    """
    if live_config is not None and live_config.weights.enabled:
        live = live_config.weights_dict()
        if set(live) == set(model_names):
            return {name: live[name] for name in model_names}, (
                f"live config {live_config.version}"
            )
        source = (
            f"equal weights (the live config {live_config.version} weighs "
            f"{', '.join(sorted(live))}, not the models in the trades)"
        )
        return equal_weights(model_names), source
    return equal_weights(model_names), "equal weights (no live ensemble weights)"


WEIGHTS_PROPOSED = "proposed"
WEIGHTS_NO_CHANGE = "no_change"
WEIGHTS_SKIPPED = "skipped"


@attrs.frozen
class WeightAnalysis:
    """What happened to the ensemble weights in this job.

    Attributes
    ----------
    status : str
        ``"proposed"`` (a change), ``"no_change"`` or ``"skipped"``.
    reason : str
        One line: the proposal's reason, or why the step was skipped.
    current_source : str
        Where the starting weights came from ("" when skipped before that).
    proposal : WeightProposal or None
        The proposal, when one was computed.
    vote_before, vote_after : VotePrecision or None
        Weighted-vote precision of the historical votes with the current and
        with the proposed weights.
    """

    status: str
    reason: str
    current_source: str = ""
    proposal: WeightProposal | None = None
    vote_before: VotePrecision | None = None
    vote_after: VotePrecision | None = None


def analyze_weights(
    model_names: Sequence[str],
    model_actions: npt.ArrayLike | None,
    sides: npt.ArrayLike | None,
    wins: npt.NDArray[np.bool_],
    live_config: CalibrationConfig | None,
) -> WeightAnalysis:
    """Measure the member models and propose weights, or say why the step is skipped."""
    if not model_names or model_actions is None or sides is None:
        return WeightAnalysis(
            WEIGHTS_SKIPPED,
            "the trades carry no model_breakdown, so there are no member votes "
            "to measure; ensemble weights stay as they are",
        )
    unusable = [name for name in model_names if not MODEL_NAME_PATTERN.fullmatch(name)]
    if unusable:
        # Such a name could never be a key of the proposed config: skip the weights
        # (and say which model) rather than let the whole proposal be rejected.
        return WeightAnalysis(
            WEIGHTS_SKIPPED,
            f"skipped: member model {unusable[0]!r} cannot be a config key (names must match "
            f"{MODEL_NAME_PATTERN.pattern}); ensemble weights stay as they are",
        )
    actions = np.asarray(model_actions)
    try:
        current, source = choose_current_weights(model_names, live_config)
        performance = measure_model_performance(model_names, actions, sides, wins)
        proposal = propose_weights(current, performance)
    except InfeasibleWeightsError as exc:
        return WeightAnalysis(WEIGHTS_SKIPPED, str(exc))
    names = [name for name, _ in proposal.before]
    order = [list(model_names).index(name) for name in names]
    columns = actions[:, order]
    before = weighted_vote_precision(columns, sides, wins, [w for _, w in proposal.before])
    after = weighted_vote_precision(columns, sides, wins, [w for _, w in proposal.after])
    status = WEIGHTS_NO_CHANGE if proposal.no_change else WEIGHTS_PROPOSED
    return WeightAnalysis(status, proposal.reason, source, proposal, before, after)


def weight_checks(weights: WeightAnalysis) -> list[CheckResult]:
    """Return the weight checks of a computed proposal (none when there is no proposal)."""
    proposal = weights.proposal
    if proposal is None or weights.vote_before is None or weights.vote_after is None:
        return []
    before, after = proposal.before_dict(), proposal.after_dict()
    precision_before = weights.vote_before.precision
    precision_after = weights.vote_after.precision
    if math.isnan(precision_before) and not math.isnan(precision_after):
        # The current weights decided no vote (every vote a tie): there is nothing to
        # degrade from, so the check compares the proposal with itself and records
        # its real precision. A NaN *after* stays NaN, and the check then fails.
        precision_before = precision_after
    return [
        check_weight_sum(after),
        check_weight_bounds(after),
        check_max_weight_change(before, after),
        check_no_degradation(
            "ensemble_vote_precision", precision_before, precision_after, higher_is_better=True
        ),
    ]
