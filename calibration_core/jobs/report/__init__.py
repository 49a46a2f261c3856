"""The review report of a calibration job: its document, the Markdown view and the files."""

# document builds the JSON-ready document (a pure function of the proposal and the
# job's context), markdown renders it, files writes the report's files, all or none.
# The names below are the report's entry points; importers keep using this package.

from calibration_core.jobs.report.document import (
    ANALYSIS_SCHEMA_VERSION,
    REPORT_SCHEMA,
    REPORT_SCHEMA_VERSION,
    ReportContext,
    analysis_csv,
    analysis_document,
    build_report_document,
    integrity_to_dict,
    render_json,
    validate_report_document,
)
from calibration_core.jobs.report.files import (
    ReportPaths,
    output_error,
    remove_outputs,
    report_paths,
    write_outputs,
    write_report,
)
from calibration_core.jobs.report.markdown import MARKDOWN_SECTIONS, render_markdown

__all__ = [
    "ANALYSIS_SCHEMA_VERSION",
    "MARKDOWN_SECTIONS",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_VERSION",
    "ReportContext",
    "ReportPaths",
    "analysis_csv",
    "analysis_document",
    "build_report_document",
    "integrity_to_dict",
    "output_error",
    "remove_outputs",
    "render_json",
    "render_markdown",
    "report_paths",
    "validate_report_document",
    "write_outputs",
    "write_report",
]
