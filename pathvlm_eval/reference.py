"""The paper's reference tables (pathvlm_eval/paper_reference.yaml, or a user's file in the same layout)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

TABLE_METRICS = ("accuracy", "mean_output_tokens")


@dataclass(frozen=True)
class Column:
    label: str
    filter: dict[str, str]


@dataclass(frozen=True)
class ReferenceRow:
    id: str
    label: str
    values: dict[str, float]


@dataclass(frozen=True)
class ReferenceTable:
    id: str
    title: str
    source: str
    metric: str
    columns: tuple[Column, ...]
    rows: tuple[ReferenceRow, ...]

    def row(self, row_id: str | None) -> ReferenceRow | None:
        return next((row for row in self.rows if row.id == row_id), None)


@dataclass(frozen=True)
class Reference:
    source: str
    caveat: str
    tables: tuple[ReferenceTable, ...]

    def row_ids(self) -> set[str]:
        return {row.id for table in self.tables for row in table.rows}

    def value(self, metric: str, row_id: str | None, group_filter: Mapping[str, str]) -> float | None:
        """The paper's `metric` for row `row_id` in the column selecting `group_filter`, if it reports one."""
        for table in self.tables:
            row = table.row(row_id)
            column = next((c for c in table.columns if c.filter == dict(group_filter)), None)
            if table.metric == metric and row and column and column.label in row.values:
                return row.values[column.label]
        return None


def _table(raw: dict[str, Any], where: str) -> ReferenceTable:
    if raw.get("metric") not in TABLE_METRICS:
        raise ValueError(f"{where}: metric {raw.get('metric')!r} is not one of {TABLE_METRICS}")
    columns = tuple(Column(str(c["label"]), {str(k): str(v) for k, v in c["filter"].items()}) for c in raw["columns"])
    labels = {c.label for c in columns}
    rows = []
    for row in raw["rows"]:
        unknown = set(row["values"]) - labels
        if unknown:
            raise ValueError(f"{where}: row {row['id']!r} has values for unknown columns {sorted(unknown)}")
        rows.append(ReferenceRow(str(row["id"]), str(row["label"]),
                                 {str(k): float(v) for k, v in row["values"].items()}))
    return ReferenceTable(str(raw["id"]), str(raw["title"]), str(raw.get("source", "")), raw["metric"], columns,
                          tuple(rows))


def load_reference(path: str | Path | None = None) -> Reference:
    """Read and check a reference file; `None` is the paper's numbers shipped with this package."""
    if path is None:
        text, where = (resources.files("pathvlm_eval") / "paper_reference.yaml").read_text(encoding="utf-8"), \
            "pathvlm_eval/paper_reference.yaml"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    raw = yaml.safe_load(text)
    try:
        tables = tuple(_table(table, f"{where}: table {table.get('id')!r}") for table in raw["tables"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where}: malformed reference file ({err!r})") from err
    return Reference(str(raw.get("source", "")), str(raw.get("caveat", "")), tables)
