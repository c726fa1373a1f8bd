"""Colours as WCAG measures them: parsing CSS colours, luminance, contrast ratio, and the
lightest-needed variant of a colour that reads on a background. Shared by the renderer (the
dark mode's brand colour) and the contrast lint."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rgba:
    """A colour in sRGB, channels 0-255, alpha 0-1."""

    r: float
    g: float
    b: float
    a: float = 1.0

    @property
    def css(self) -> str:
        """#rrggbb, or rgba() when translucent."""
        if self.a < 1:
            return f"rgba({round(self.r)}, {round(self.g)}, {round(self.b)}, {self.a:g})"
        return f"#{round(self.r):02x}{round(self.g):02x}{round(self.b):02x}"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?%?"


def parse_color(value: str) -> Rgba:
    """A computed CSS colour as Chromium writes it: rgb(), rgba() (comma or space syntax),
    color(srgb ...), #hex and `transparent`. ValueError for anything else."""
    text = value.strip().lower()
    if text == "transparent":
        return Rgba(0, 0, 0, 0)
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) not in (6, 8) or not re.fullmatch(r"[0-9a-f]+", digits):
            raise ValueError(f"not a CSS colour: {value!r}")
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return Rgba(channels[0], channels[1], channels[2], alpha)
    match = re.fullmatch(r"(rgba?|color)\((.*)\)", text)
    if not match:
        raise ValueError(f"not a CSS colour: {value!r}")
    function, body = match.groups()
    numbers = re.findall(_NUMBER, body)
    if function == "color":
        if not body.strip().startswith("srgb"):
            raise ValueError(f"not an sRGB colour: {value!r}")
        scale = 255.0
    else:
        scale = 1.0
    if len(numbers) not in (3, 4):
        raise ValueError(f"not a CSS colour: {value!r}")

    def channel(token: str) -> float:
        if token.endswith("%"):
            return float(token[:-1]) * 2.55
        return float(token) * scale

    alpha = 1.0
    if len(numbers) == 4:
        token = numbers[3]
        alpha = float(token[:-1]) / 100 if token.endswith("%") else float(token)
    r, g, b = (min(255.0, max(0.0, channel(t))) for t in numbers[:3])
    return Rgba(r, g, b, min(1.0, max(0.0, alpha)))


def composite(top: Rgba, bottom: Rgba) -> Rgba:
    """`top` painted over an opaque `bottom` (source-over); the result is opaque."""
    a = top.a
    return Rgba(
        top.r * a + bottom.r * (1 - a),
        top.g * a + bottom.g * (1 - a),
        top.b * a + bottom.b * (1 - a),
    )


def relative_luminance(color: Rgba) -> float:
    """WCAG 2.x relative luminance of an opaque sRGB colour, 0 (black) to 1 (white)."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.r) + 0.7152 * linear(color.g) + 0.0722 * linear(color.b)


def contrast_ratio(first: Rgba, second: Rgba) -> float:
    """WCAG contrast ratio of two opaque colours, 1 to 21, in either order."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)))[::-1]
    return (lighter + 0.05) / (darker + 0.05)


def readable_on(color: str, background: str, minimum: float, steps: int = 10) -> str:
    """`color` mixed with white in `steps` equal steps, the first that reads at `minimum`
    or more on `background` (white when none does), as #rrggbb."""
    base, under = parse_color(color), parse_color(background)
    for step in range(steps + 1):
        mix = step / steps
        mixed = Rgba(*(_half_up(c + (255 - c) * mix) for c in (base.r, base.g, base.b)))
        if contrast_ratio(mixed, under) >= minimum:
            return mixed.css
    return "#ffffff"


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)
