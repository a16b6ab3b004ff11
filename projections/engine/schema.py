"""Projection tables declared once, with DDL for SQLite and PostgreSQL, and target names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from casestore.domain.errors import InvalidCommand

#: Portable column types -> (SQLite, PostgreSQL) declarations and PostgreSQL array casts.
COLUMN_TYPES: Mapping[str, tuple[str, str]] = {
    "text": ("TEXT", "TEXT"),
    "int": ("INTEGER", "BIGINT"),
    "float": ("REAL", "DOUBLE PRECISION"),
    "bytes": ("BLOB", "BYTEA"),
}
#: Binary COPY type names for PostgreSQL.
PG_COPY_TYPES: Mapping[str, str] = {
    "text": "text",
    "int": "int8",
    "float": "float8",
    "bytes": "bytea",
}
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TARGET = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


def check_target(target: str) -> str:
    """A target name usable as a table-name suffix ('' is the live view)."""
    if target and (not _TARGET.match(target) or "__" in target):
        raise InvalidCommand(
            f"target {target!r} must be 1-24 lowercase letters, digits or single underscores, "
            "starting with a letter"
        )
    return target


def physical(logical: str, target: str = "") -> str:
    """The table that holds ``logical`` for a target (the live view when target is '')."""
    return f"{logical}__{target}" if target else logical


@dataclass(frozen=True)
class Column:
    """One column with a portable type (text, int, float, bytes)."""

    name: str
    type: str = "text"
    not_null: bool = False

    def __post_init__(self) -> None:
        if not _IDENT.match(self.name) or self.type not in COLUMN_TYPES:
            raise ValueError(f"bad column {self.name!r} of type {self.type!r}")


@dataclass(frozen=True)
class Index:
    """A secondary index, named per physical table when the table is created."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    bulk: bool = False
    """Built with the table even when a bulk build defers the others: for the columns
    the build itself looks rows up by (e.g. to replace a case's rows)."""


@dataclass(frozen=True)
class Table:
    """A projection table: columns, primary key and indexes, portable across backends."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def __post_init__(self) -> None:
        names = {c.name for c in self.columns}
        if not _IDENT.match(self.name) or not set(self.primary_key) <= names:
            raise ValueError(f"bad table {self.name!r}")
        for index in self.indexes:
            if not set(index.columns) <= names:
                raise ValueError(f"index {index.name} of {self.name} names unknown columns")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self, backend: str, table: str, *, indexes: bool = True) -> list[str]:
        """CREATE TABLE (and, unless deferred, CREATE INDEX) for one physical table."""
        slot = 1 if backend == "postgres" else 0
        cols = [
            f"{c.name} {COLUMN_TYPES[c.type][slot]}{' NOT NULL' if c.not_null else ''}"
            for c in self.columns
        ]
        cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        statements = [f"CREATE TABLE {table} ({', '.join(cols)})"]
        return statements + self.index_ddl(table, deferred=None if indexes else False)

    def index_ddl(self, table: str, *, deferred: bool | None = None) -> list[str]:
        """CREATE INDEX statements, named after the physical table they were built on:
        all of them, or only those a bulk build defers (``deferred=True``) or keeps."""
        return [
            f"CREATE {'UNIQUE ' if index.unique else ''}INDEX ix_{table}_{index.name} "
            f"ON {table} ({', '.join(index.columns)})"
            for index in self.indexes
            if deferred is None or deferred != index.bulk
        ]

    def pg_array_types(self) -> list[str]:
        return [COLUMN_TYPES[c.type][1] + "[]" for c in self.columns]
