"""The values a lint hands back: a finding, a client feature ignored on purpose, the report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    check: str  # html | size | alt | links | sections | caniemail | spam
    level: Level
    message: str
    snippet: str = ""  # the offending element, URL, selector or declaration

    @property
    def line(self) -> str:
        tail = f": {self.snippet}" if self.snippet else ""
        return f"{self.level}: {self.check}: {self.message}{tail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoredFeature:
    """A feature some major client lacks, used on purpose with a fallback."""

    feature: str
    clients: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LintReport:
    findings: tuple[Finding, ...]
    html_bytes: int
    ignored: tuple[IgnoredFeature, ...] = ()

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level is Level.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level is Level.WARNING)

    @property
    def ok(self) -> bool:
        """No errors; warnings do not fail a lint."""
        return self.errors == 0

    @property
    def summary(self) -> str:
        kb = self.html_bytes / 1024
        return (
            f"{self.errors} error(s), {self.warnings} warning(s); HTML {self.html_bytes:,} "
            f"bytes ({kb:.1f} KB; Gmail clips at 102 KB); {len(self.ignored)} client "
            "feature(s) ignored as progressive enhancement"
        )

    def with_findings(self, findings: Iterable[Finding]) -> LintReport:
        return replace(self, findings=(*self.findings, *findings))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "html_bytes": self.html_bytes,
            "findings": [asdict(f) for f in self.findings],
            "ignored": [asdict(i) for i in self.ignored],
        }
