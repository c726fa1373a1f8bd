"""Make digest/lint/caniemail.json, the subset of caniemail.com's data the lint uses.

    python tools/caniemail_subset.py PATH-TO-CANIEMAIL [--commit SHA] [--out FILE]

A developer's tool, not installed with the package: it needs digest installed (pip install
-e .) and PyYAML. PATH is a checkout of github.com/hteumeuleu/caniemail (its
`_features/*.md` and `LICENSE`). Kept: the features digest.lint.features can detect
(KNOWN_SLUGS), the families in MAJOR_CLIENTS, only the newest test result of each platform
(in upstream's shape), each feature's title, and the notes that qualify a "not supported".
The upstream LICENSE is copied next to the output as caniemail-LICENSE.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from digest.lint.caniemail import DATA_FILE, LICENSE_FILE, MAJOR_CLIENTS
from digest.lint.slugs import KNOWN_SLUGS

SOURCE = "https://github.com/hteumeuleu/caniemail"
# Where the lint reads the subset from: digest/lint/ in this repository.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "digest" / "lint" / DATA_FILE
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


def _untab(text: str) -> str:
    """Tabs outside quoted strings become spaces: the front matter uses tabs as whitespace,
    which Ruby's YAML (Jekyll) accepts and PyYAML does not."""
    out, quote = [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "\t":
            char = "    "
        elif char == "\n":
            quote = ""
        out.append(char)
    return "".join(out)


def read_feature(path: Path) -> dict[str, Any]:
    match = FRONT_MATTER.match(path.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{path}: no front matter")
    data: dict[str, Any] = yaml.safe_load(_untab(match.group(1)))
    return data


def subset_feature(slug: str, feature: dict[str, Any]) -> dict[str, Any]:
    stats: dict[str, dict[str, dict[str, str]]] = {}
    notes: dict[str, str] = {}
    all_notes = {str(k): str(v) for k, v in (feature.get("notes_by_num") or {}).items()}
    for family in MAJOR_CLIENTS:
        for platform, versions in (feature.get("stats") or {}).get(family, {}).items():
            if not versions:
                continue
            # Upstream lists versions oldest first; the last one is the current state.
            version, value = list(versions.items())[-1]
            stats.setdefault(family, {})[platform] = {str(version): str(value)}
            # Notes are kept where they qualify a "not supported", the only value we report.
            if str(value).startswith("n"):
                notes.update(
                    (ref, all_notes[ref])
                    for ref in re.findall(r"#(\d+)", str(value))
                    if ref in all_notes
                )
    subset: dict[str, Any] = {"title": str(feature.get("title", slug)), "stats": stats}
    if notes:
        subset["notes_by_num"] = dict(sorted(notes.items()))
    return subset


def source_commit(corpus: Path) -> str:
    """The commit of a git checkout, else the one a prepared copy records in data.json."""
    try:
        return subprocess.run(
            ["git", "-C", str(corpus), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    prepared = corpus / "data.json"
    if prepared.is_file():
        return str(json.loads(prepared.read_text(encoding="utf-8")).get("source_commit", ""))
    return ""


def build_subset(corpus: Path, commit: str) -> dict[str, Any]:
    features: dict[str, Any] = {}
    missing = []
    for slug in sorted(KNOWN_SLUGS):
        path = corpus / "_features" / f"{slug}.md"
        if not path.is_file():
            missing.append(slug)
            continue
        features[slug] = subset_feature(slug, read_feature(path))
    if missing:
        raise SystemExit(f"features missing from {corpus}/_features: {', '.join(missing)}")
    return {
        "source": SOURCE,
        "source_commit": commit,
        "license": f"MIT, Copyright (c) 2019 Rémi Parmentier; full text in {LICENSE_FILE}",
        "generated_by": "python tools/caniemail_subset.py",
        "clients": list(MAJOR_CLIENTS),
        "features": features,
    }


def write_subset(data: dict[str, Any], out: Path) -> None:
    """One feature per line: small, and a data update reads well in a diff."""
    head = {k: v for k, v in data.items() if k != "features"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "features": {']
    items = list(data["features"].items())
    for n, (slug, feature) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        lines.append(f"{json.dumps(slug)}: {json.dumps(feature, ensure_ascii=False)}{comma}")
    lines.append("}}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="a checkout of the caniemail repository")
    parser.add_argument("--commit", help="the checkout's commit (default: asked from git)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output file (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    data = build_subset(args.corpus, args.commit or source_commit(args.corpus))
    write_subset(data, args.out)
    shutil.copyfile(args.corpus / "LICENSE", args.out.with_name(LICENSE_FILE))
    print(
        f"{args.out}: {len(data['features'])} features, clients {', '.join(MAJOR_CLIENTS)}, "
        f"source commit {data['source_commit'] or 'unknown'}"
    )


if __name__ == "__main__":
    main()
