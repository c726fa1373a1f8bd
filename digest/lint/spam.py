"""SpamAssassin on one message, locally: its score and the rules that fired, as findings.

`spamassassin -t -L` runs the local tests only (no DNS blocklists, no network), without
Bayes, auto-learning or the user's preferences, so the answer depends on the message and
the installed rule set alone. When only `spamc` is installed and a spamd daemon answers,
that daemon is asked instead (its own configuration then decides which tests run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from digest.errors import DigestError
from digest.lint.report import Finding, Level

NOT_INSTALLED = (
    "SpamAssassin is not installed (Debian and Ubuntu: apt-get install spamassassin), "
    "so there is no spam score"
)
TIMEOUT_SECONDS = 120.0

_SUMMARY = re.compile(r"Content analysis details:\s+\((-?[\d.]+) points?, (-?[\d.]+) required\)")
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*?)\s*$")
_VERSION = re.compile(r"^X-Spam-Checker-Version: SpamAssassin (\S+)", re.MULTILINE)


class SpamCheckError(DigestError):
    """SpamAssassin is installed but did not give a report."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpamRule:
    name: str
    points: float
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SpamReport:
    score: float
    required: float  # the score from which SpamAssassin calls a message spam
    rules: tuple[SpamRule, ...]
    command: str
    version: str = ""

    @property
    def line(self) -> str:
        version = f" {self.version}" if self.version else ""
        return (
            f"spam: score {self.score or 0.0:.1f} ({self.command}, SpamAssassin{version}; "
            f"{self.required:.1f} is spam); {len(self.rules)} rule(s) fired"
        )


def spam_command() -> list[str] | None:
    """The command that reads a message on stdin and prints a report, or None."""
    spamassassin = shutil.which("spamassassin")
    if spamassassin:
        return [
            spamassassin,
            "-t",  # test mode: the report is added to the output
            "-L",  # local tests only
            "-x",  # do not create a user preferences file
            "-p",
            os.devnull,  # and do not read one
            "--cf=use_bayes 0",
            "--cf=bayes_auto_learn 0",
        ]
    spamc = shutil.which("spamc")
    if spamc and subprocess.run([spamc, "-K"], capture_output=True, check=False).returncode == 0:
        return [spamc, "-x", "-R"]
    return None


def spam_check(message: bytes, timeout: float = TIMEOUT_SECONDS) -> SpamReport | None:
    """SpamAssassin's verdict on `message`; None when it is not installed (see NOT_INSTALLED)."""
    command = spam_command()
    if command is None:
        return None
    try:
        done = subprocess.run(command, input=message, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SpamCheckError(f"{command[0]} failed: {e}") from e
    output = done.stdout.decode("utf-8", errors="replace")
    if done.returncode != 0 and not _SUMMARY.search(output):
        error = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise SpamCheckError(
            f"{command[0]} exited with status {done.returncode}: {error[-1] if error else ''}"
        )
    name = os.path.basename(command[0])
    return parse_report(output, f"{name} -t -L" if name == "spamassassin" else f"{name} -R")


def parse_report(output: str, command: str = "spamassassin") -> SpamReport:
    """The score and rules from the report SpamAssassin adds with -t (spamc -R prints the
    same table after a 'score/required' line)."""
    summaries = list(_SUMMARY.finditer(output))
    if not summaries:
        raise SpamCheckError(f"{command}: no report in its output")
    summary = summaries[-1]  # the report comes last; a quoted older one would come earlier
    rules: list[SpamRule] = []
    in_table = False
    for line in output[summary.end() :].splitlines():
        if line.startswith("----"):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.strip():
            break
        match = _RULE.match(line)
        if match:
            points, name, description = match.groups()
            rules.append(SpamRule(name=name, points=float(points), description=description))
        elif rules:  # a description continued on the next line
            last = rules[-1]
            rules[-1] = SpamRule(
                name=last.name,
                points=last.points,
                description=f"{last.description} {line.strip()}",
            )
    version = _VERSION.search(output)
    return SpamReport(
        score=float(summary.group(1)),
        required=float(summary.group(2)),
        rules=tuple(rules),
        command=command,
        version=version.group(1) if version else "",
    )


def spam_findings(report: SpamReport | None) -> tuple[Finding, ...]:
    """The spam check as findings: none for a score of 0 or less."""
    if report is None:
        return (Finding(check="spam", level=Level.WARNING, message=NOT_INSTALLED),)
    if report.score <= 0:
        return ()
    adding = ", ".join(f"{r.name} {r.points:+.1f}" for r in report.rules if r.points > 0)
    spam = report.score >= report.required
    return (
        Finding(
            check="spam",
            level=Level.ERROR if spam else Level.WARNING,
            message=f"SpamAssassin scores the message {report.score:.1f} "
            f"({'spam' if spam else 'not spam'} from {report.required:.1f}; aim for 0 or less)",
            snippet=adding,
        ),
    )
