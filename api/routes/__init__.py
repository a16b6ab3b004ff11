"""One router per resource: commands, cases, public, items, audit, reports, stream, ops."""
