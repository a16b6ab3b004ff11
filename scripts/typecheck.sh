#!/usr/bin/env bash
# mypy --strict over the one import namespace: projections/, api/ and bench/ are mapped into
# the casestore package by setuptools' package-dir, which mypy cannot follow, so we give it
# a tree of symlinks with the installed layout and check the package as a whole.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck
rm -rf "$tree" && mkdir -p "$tree/casestore"
for entry in src/casestore/*; do ln -s "$PWD/$entry" "$tree/casestore/$(basename "$entry")"; done
ln -s "$PWD/projections" "$tree/casestore/projections"
ln -s "$PWD/api" "$tree/casestore/api"
ln -s "$PWD/bench" "$tree/casestore/bench"
cd "$tree"
exec "${MYPY:-../../.venv/bin/mypy}" --config-file ../../pyproject.toml -p casestore "$@"
