"""Open-vocabulary text sources for the synthetic training-data generator.

Plain data built once from Debian and PyPI packages by ``build_sources.py`` and committed next to this
module (provenance, licences and counts: README.md and manifest.json here). The loaders read the gzip
files with the standard library only and cache the result; each returns a new list, sorted as stored, so
callers may shuffle or sample it with their own seeded ``random.Random``.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

__all__ = ["prose_sentences", "prose_sentence_sources", "words", "given_names", "surnames"]

_HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _lines(name: str) -> tuple[str, ...]:
    with gzip.open(_HERE / name, "rt", encoding="utf-8") as f:
        return tuple(line for line in f.read().split("\n") if line)


def prose_sentences() -> list[str]:
    """English prose sentences (6-40 words, ASCII, no double quotes), one per entry: narrative text
    (Austen, Melville, Bierce) and expository documentation (Debian Reference, Debian Administrator's
    Handbook, Python documentation)."""
    return list(_lines("prose.txt.gz"))


def prose_sentence_sources() -> list[str]:
    """The source key of each entry of prose_sentences() (same order): austen, melville, bierce,
    debian-reference, debian-handbook or python-docs; README.md gives each one's package and licence."""
    return list(_lines("prose_sources.txt.gz"))


def words() -> list[str]:
    """Common lowercase English nouns and adjectives (3-12 letters) for naming teams, projects, items."""
    return list(_lines("words.txt.gz"))


def given_names() -> list[str]:
    """Capitalised given names: US census (1990) first names plus Faker's per-locale lists, ASCII."""
    return list(_lines("given_names.txt.gz"))


def surnames() -> list[str]:
    """Capitalised surnames: the 25,000 most frequent US census (1990) surnames plus Faker's per-locale
    lists, ASCII."""
    return list(_lines("surnames.txt.gz"))
