"""The single exception hierarchy raised by calibration_core."""

# Pure: imports nothing.

__all__ = [
    "CalibrationError",
    "ConfigRejectedError",
    "DataIntegrityError",
    "DeploymentError",
    "InfeasibleWeightsError",
    "InvalidInputError",
    "JobRefusedError",
    "NotAuthorizedError",
    "OutputWriteError",
]


class CalibrationError(Exception):
    """Base class of every error calibration_core raises on purpose.

    The CLI turns any ``CalibrationError`` into a one-line message and an exit
    code; anything else reaching the operator is a bug.
    """

    exit_code: int = 1


class InvalidInputError(CalibrationError, ValueError):
    """Raised when a pure-core function gets an argument it cannot accept.

    The message names the argument, the rule and the offending index or value,
    e.g. ``weights must be strictly positive (got -1.0 at index 3)``.
    """

    exit_code = 2


class InfeasibleWeightsError(InvalidInputError):
    """Raised when no weight vector can satisfy the hard bounds.

    Examples: 8 models cannot each hold at least 0.15; current weights that do
    not sum to 1; performance given for an unknown model.
    """


class DataIntegrityError(CalibrationError):
    """Raised when the trades file breaks the format contract.

    ``problems`` holds every bad line as ``path:line: reason`` so that nothing
    is cleaned silently; the message is the first one plus a count. ``shown``,
    when given, is the short grouped form an operator reads instead of the
    full list (which ``--json`` still carries).
    """

    exit_code = 3

    def __init__(
        self, message: str, problems: tuple[str, ...] = (), shown: tuple[str, ...] | None = None
    ) -> None:
        super().__init__(message)
        self.problems = problems
        self.shown = shown


class NotAuthorizedError(CalibrationError):
    """Raised when the Learning Cadence gate does not authorize calibration."""

    exit_code = 4


class ConfigRejectedError(CalibrationError, ValueError):
    """Raised when a calibration config document fails parsing or validation."""

    exit_code = 5


class DeploymentError(CalibrationError):
    """Raised when approve/rollback cannot complete; the live config is untouched."""

    exit_code = 6


class OutputWriteError(DeploymentError):
    """Raised when ``run`` or ``analyze`` cannot write its report, job record or analysis files.

    A full disk, a file-size limit or a directory the user may not write. The
    files of the failed job are removed, so nothing partial is left behind; the
    live config is never touched by these jobs. Exit code 6, as for an
    ``approve`` that cannot write.
    """


class JobRefusedError(CalibrationError):
    """Raised when a job may not be approved, aborted or rolled back to, with the reason."""

    exit_code = 7
