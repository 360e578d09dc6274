"""Reference data shipped with the package: host cities, medical fields, professional titles.

The CSV files in `bot/data/` are copies of the association's lists; they are read once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

# The order fields are offered in before "more": the specialties that supervise most often.
# A judgement call from the association's experience (GPs and the big hospital specialties first);
# change the order here, not in the CSV.
COMMON_FIELDS: Final = (
    "general_practice",
    "internal_medicine",
    "general_surgery",
    "paediatrics",
    "psychiatry",
    "cardiology",
    "anaesthesiology",
    "emergency",
    "epidemiology",
    "public_health",
    "global_health",
    "basic_science",
)
COMMON_COUNT: Final = 8

TITLES: Final = ("senior_consultant", "registrar", "gp", "researcher")
EXCHANGE_TYPES: Final = ("clinical", "research")


@dataclass(frozen=True)
class Named:
    code: str
    nb: str
    en: str
    kind: str = ""

    def name(self, language: str) -> str:
        return self.nb if language == "nb" else self.en


def _read(name: str) -> list[dict[str, str]]:
    with (files("bot") / "data" / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@cache
def cities() -> tuple[Named, ...]:
    return tuple(Named(row["code"], row["nb"], row["en"]) for row in _read("cities.csv"))


@cache
def fields() -> tuple[Named, ...]:
    return tuple(Named(r["code"], r["nb"], r["en"], r["kind"]) for r in _read("fields.csv"))


def city(code: str) -> Named | None:
    return next((c for c in cities() if c.code == code), None)


def field(code: str) -> Named | None:
    return next((f for f in fields() if f.code == code), None)


def fields_for(exchange_types: list[str], language: str) -> list[Named]:
    """Fields that suit the exchange types offered: most common first, then alphabetically."""
    wanted = {"both", *exchange_types}
    suitable = [f for f in fields() if f.kind in wanted]
    rank = {code: i for i, code in enumerate(COMMON_FIELDS)}
    return sorted(suitable, key=lambda f: (rank.get(f.code, len(rank)), f.name(language).lower()))
