"""Pure folds shared by read models: case and item facts, evidence stamps, clocks."""
