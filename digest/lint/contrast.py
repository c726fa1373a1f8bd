"""WCAG contrast of every visible text of a page, in light and in dark mode, measured in a
real headless Chromium: `issue lint --contrast` and the browser tests.

The work is split in two:

- PAGE_SCRIPT, evaluated in the page, reads for every visible text node its computed colour,
  font size and weight, and the background colours from its element up to the first opaque
  one (the page's canvas colour, which follows the used color-scheme, closes the walk). It
  measures nothing.
- The rest is pure Python over those samples: CSS colour parsing, alpha compositing, the
  WCAG 2.x relative luminance and contrast ratio, and the thresholds: 4.5:1, or 3:1 for
  large text (at least 24px, or at least 18.66px (14pt) and bold).

`measure_html()` runs the script without the DevTools protocol: Chromium's --dump-dom on a
copy of the HTML with the script appended, which writes its answer into the DOM it dumps.
Dark mode there is Chromium's --force-dark-mode, which makes `prefers-color-scheme: dark`
match (the tests emulate the media feature over DevTools instead).

Not measured: text over a background image (reported as its colour's contrast against the
background colour under the image), text in form fields' values, and element opacity.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.colors import Rgba, composite, contrast_ratio, parse_color
from digest.errors import DigestError
from digest.lint.report import Finding, Level

NORMAL_MINIMUM = 4.5
LARGE_MINIMUM = 3.0
LARGE_PX = 24.0
LARGE_BOLD_PX = 18.66
BOLD_WEIGHT = 700
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MODES = ("light", "dark")


class ContrastUnavailable(DigestError):
    """The contrast check needs a Chromium that is missing or failed."""


def is_large(font_size_px: float, font_weight: int) -> bool:
    """WCAG's large text: 18pt (24px), or 14pt (18.66px) bold."""
    bold = font_weight >= BOLD_WEIGHT
    return font_size_px >= LARGE_PX or (font_size_px >= LARGE_BOLD_PX and bold)


def minimum_ratio(font_size_px: float, font_weight: int) -> float:
    return LARGE_MINIMUM if is_large(font_size_px, font_weight) else NORMAL_MINIMUM


def effective_background(backgrounds: Sequence[str], canvas: str) -> Rgba:
    """The colour behind a text: its element's and its ancestors' background colours
    (innermost first, up to the first opaque one) painted over the page's canvas."""
    result = composite(parse_color(canvas), Rgba(255, 255, 255))
    for layer in reversed(backgrounds):
        result = composite(parse_color(layer), result)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class TextSample:
    """One visible text of a page, with what decides its contrast."""

    text: str
    color: Rgba  # as painted: the text colour composited over the background
    background: Rgba
    font_size: float
    font_weight: int

    @property
    def ratio(self) -> float:
        return contrast_ratio(self.color, self.background)

    @property
    def minimum(self) -> float:
        return minimum_ratio(self.font_size, self.font_weight)

    @property
    def ok(self) -> bool:
        # Rounded as WCAG tools show it: 4.49 fails, 4.5 passes.
        return round(self.ratio, 2) >= self.minimum


def sample_of(raw: dict[str, Any]) -> TextSample:
    """One entry of PAGE_SCRIPT's answer as a TextSample."""
    background = effective_background(raw["backgrounds"], raw["canvas"])
    color = composite(parse_color(raw["color"]), background)
    return TextSample(
        text=str(raw["text"]),
        color=color,
        background=background,
        font_size=float(raw["fontSize"]),
        font_weight=int(raw["fontWeight"]),
    )


def samples_of(raw: Iterable[dict[str, Any]]) -> list[TextSample]:
    return [sample_of(entry) for entry in raw]


def violations(samples: Iterable[TextSample]) -> list[TextSample]:
    """The samples under their minimum ratio, one per (text, colours), lowest ratio first."""
    seen: set[tuple[str, str, str]] = set()
    found = []
    for sample in samples:
        key = (sample.text, sample.color.css, sample.background.css)
        if sample.ok or key in seen:
            continue
        seen.add(key)
        found.append(sample)
    return sorted(found, key=lambda s: s.ratio)


def lowest(samples: Iterable[TextSample]) -> TextSample | None:
    return min(samples, key=lambda s: s.ratio, default=None)


def describe(sample: TextSample) -> str:
    size = "large " if is_large(sample.font_size, sample.font_weight) else ""
    return (
        f"{sample.ratio:.2f}:1 is under {sample.minimum:g}:1 for {size}text "
        f"{sample.color.css} on {sample.background.css}"
    )


def contrast_findings(samples: Iterable[TextSample], mode: str) -> list[Finding]:
    """One error per text under its minimum ratio, naming the mode, the ratio, both
    colours and the text."""
    return [
        Finding(
            check="contrast",
            level=Level.ERROR,
            message=f"{mode} mode: {describe(sample)}",
            snippet=_short(sample.text),
        )
        for sample in violations(samples)
    ]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Evaluated in the page; returns a list of plain objects for sample_of(). Every text node
# with a painted box counts; <script>, <style> and the like, and anything hidden
# (display:none, visibility:hidden, opacity:0, zero-sized, clipped away), do not.
PAGE_SCRIPT = r"""
(() => {
  const probe = document.createElement('div');
  probe.style.cssText = 'background-color: Canvas !important; position: absolute;';
  document.documentElement.appendChild(probe);
  const canvas = getComputedStyle(probe).backgroundColor;
  probe.remove();
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TITLE', 'OPTION']);
  const out = [];
  const root = document.body || document.documentElement;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/\s+/g, ' ').trim();
    const element = node.parentElement;
    if (!text || !element || skip.has(element.tagName)) continue;
    if (element.checkVisibility && !element.checkVisibility(
        {opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(r => r.width >= 1 && r.height >= 1);
    if (!rects.length) continue;
    let clipped = false;
    for (let e = element; e && !clipped; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.overflow !== 'visible') {
        const box = e.getBoundingClientRect();
        if (box.width < 1 || box.height < 1) clipped = true;
      }
    }
    if (clipped) continue;
    const style = getComputedStyle(element);
    const backgrounds = [];
    for (let e = element; e; e = e.parentElement) {
      const color = getComputedStyle(e).backgroundColor;
      backgrounds.push(color);
      if (/^rgb\(/.test(color) || /^#[0-9a-f]{6}$/i.test(color)) break;
    }
    out.push({
      text: text.slice(0, 200),
      color: style.color,
      backgrounds: backgrounds,
      canvas: canvas,
      fontSize: parseFloat(style.fontSize),
      fontWeight: parseInt(style.fontWeight, 10) || 400,
    });
  }
  return out;
})()
"""

_ANSWER_ID = "digest-contrast-answer"
_DUMP_SCRIPT = (
    "<script>(() => { const answer = JSON.stringify(" + PAGE_SCRIPT.strip() + ");"
    " const pre = document.createElement('pre');"
    f" pre.id = '{_ANSWER_ID}'; pre.hidden = true;"
    " pre.textContent = btoa(unescape(encodeURIComponent(answer)));"
    " document.documentElement.appendChild(pre); })();</script>"
)


def find_chromium() -> Path:
    """The first Chromium or Chrome on PATH; ContrastUnavailable when there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ContrastUnavailable(
        "the contrast check needs Chromium (looked for chromium, chromium-browser, "
        "google-chrome on PATH); install it (Debian: apt-get install chromium) or lint "
        "without --contrast"
    )


def measure_html(
    html: str, *, dark: bool, width: int = 640, chromium: Path | None = None, timeout: float = 60
) -> list[TextSample]:
    """The text samples of `html` as headless Chromium lays it out at `width` CSS px, in
    light or dark mode. The network stays off: remote images do not load (their alt text,
    where shown, is not a text node and is not measured)."""
    executable = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="digest-contrast-") as folder:
        page = Path(folder) / "page.html"
        marker = html.lower().rfind("</body>")
        page.write_text(
            html[:marker] + _DUMP_SCRIPT + html[marker:] if marker >= 0 else html + _DUMP_SCRIPT,
            encoding="utf-8",
        )
        command = [
            str(executable),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={Path(folder) / 'profile'}",
            f"--window-size={width},900",
            *(["--force-dark-mode"] if dark else []),
            "--dump-dom",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=timeout, check=False, start_new_session=True
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ContrastUnavailable(f"chromium ({executable}) failed: {e}") from e
    dom = done.stdout.decode("utf-8", errors="replace")
    match = re.search(rf'<pre id="{_ANSWER_ID}"[^>]*>([A-Za-z0-9+/=]*)</pre>', dom)
    if match is None:
        tail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:]
        raise ContrastUnavailable(
            f"chromium ({executable}) gave no answer (exit status {done.returncode})"
            + (f": {tail[0]}" if tail else "")
        )
    raw = json.loads(base64.b64decode(match.group(1)).decode("utf-8"))
    return samples_of(raw)


def check_contrast(
    html: str, *, width: int = 640, chromium: Path | None = None
) -> tuple[list[Finding], dict[str, TextSample | None]]:
    """Findings for light and dark mode, and the lowest-contrast text of each mode."""
    findings: list[Finding] = []
    lowest_by_mode: dict[str, TextSample | None] = {}
    for mode in MODES:
        samples = measure_html(html, dark=mode == "dark", width=width, chromium=chromium)
        findings.extend(contrast_findings(samples, mode))
        lowest_by_mode[mode] = lowest(samples)
    return findings, lowest_by_mode
