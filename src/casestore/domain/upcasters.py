"""casestore's schema history: every upcaster ever needed, oldest first (docs/events.md).

Append here, never edit: a stored event of any age must keep reading. Each entry names
the version it starts from and why the shape changed. ``registry()`` is what both sides
decode with (the store's mapper, the read side's ``LogEvent``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from casestore.domain.evolution import SchemaRegistry, check_registry, install_defaults


def declare(registry: SchemaRegistry) -> None:
    """Every change since the first golden log (tests/golden/v1), in order."""
    # v2 (golden log v2): a correction names the fact it amends (``applicant.phone``,
    # ``notice_no``); v1 called that ``field``, which read like a form field.
    registry.rename_field("Case.Corrected", 1, "field", "fact")


_active: SchemaRegistry | None = None


def build(*extra: Callable[[SchemaRegistry], None]) -> SchemaRegistry:
    """A registry of every declared change (and ``extra`` ones), checked against the domain."""
    built = SchemaRegistry()
    declare(built)
    for more in extra:
        more(built)
    install_defaults(built)
    problems = check_registry(built)
    if problems:
        raise RuntimeError("event schema and upcasters disagree: " + "; ".join(problems))
    return built


def registry() -> SchemaRegistry:
    """The process's one decoding registry (built once, then read-only)."""
    global _active
    if _active is None:
        _active = build()
    return _active


@contextlib.contextmanager
def trial(*extra: Callable[[SchemaRegistry], None]) -> Iterator[SchemaRegistry]:
    """Decode with ``extra`` changes declared too, for as long as the block runs (tests of a
    schema change before it lands: both sides read through the same trial registry)."""
    global _active
    before = _active
    _active = build(*extra)
    try:
        yield _active
    finally:
        _active = before
