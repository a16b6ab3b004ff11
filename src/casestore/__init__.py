"""casestore: event-sourced case tracking for an Administrative Approval Service Bureau."""

__version__ = "0.1.0"
