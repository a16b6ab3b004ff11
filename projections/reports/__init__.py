"""Reports the bureau writes (SPEC §13): figures with their evidence, PDF and XLSX."""
