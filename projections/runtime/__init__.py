"""Running projections: exactly-once workers, the log scan, the registry, live runners, status."""
