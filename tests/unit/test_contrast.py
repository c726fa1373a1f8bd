"""The pure part of the contrast check: CSS colours as Chromium computes them, compositing,
WCAG luminance and ratio, large text, and the findings lint reports."""

from __future__ import annotations

from typing import Any

import pytest

from digest.colors import (
    Rgba,
    composite,
    contrast_ratio,
    parse_color,
    readable_on,
    relative_luminance,
)
from digest.lint.contrast import (
    PAGE_SCRIPT,
    contrast_findings,
    effective_background,
    is_large,
    lowest,
    minimum_ratio,
    sample_of,
    violations,
)
from digest.lint.report import Level

WHITE, BLACK = Rgba(255, 255, 255), Rgba(0, 0, 0)


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("rgb(31, 35, 40)", Rgba(31, 35, 40)),
        ("rgba(0, 0, 0, 0)", Rgba(0, 0, 0, 0)),
        ("rgba(255, 0, 0, 0.5)", Rgba(255, 0, 0, 0.5)),
        ("rgb(255 128 0 / 25%)", Rgba(255, 128, 0, 0.25)),
        ("color(srgb 1 0.5 0)", Rgba(255, 127.5, 0)),
        ("#1d4e89", Rgba(0x1D, 0x4E, 0x89)),
        ("#FFF", WHITE),
        ("transparent", Rgba(0, 0, 0, 0)),
    ],
)
def test_computed_colours_parse(css: str, expected: Rgba) -> None:
    assert parse_color(css) == expected


@pytest.mark.parametrize("css", ["red", "hsl(0, 100%, 50%)", "#12", "color(display-p3 1 0 0)"])
def test_other_colours_are_refused(css: str) -> None:
    with pytest.raises(ValueError, match="colour"):
        parse_color(css)


def test_luminance_and_ratio_match_wcag() -> None:
    assert relative_luminance(WHITE) == pytest.approx(1.0)
    assert relative_luminance(BLACK) == 0.0
    assert contrast_ratio(WHITE, BLACK) == pytest.approx(21.0)
    assert contrast_ratio(BLACK, WHITE) == contrast_ratio(WHITE, BLACK)
    # Known pairs from WebAIM's contrast checker.
    assert contrast_ratio(parse_color("#777777"), WHITE) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio(parse_color("#767676"), WHITE) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio(parse_color("#1d4e89"), WHITE) == pytest.approx(8.39, abs=0.01)
    assert contrast_ratio(WHITE, WHITE) == 1.0


def test_translucent_layers_are_painted_over_what_is_below() -> None:
    half_black = Rgba(0, 0, 0, 0.5)
    assert composite(half_black, WHITE) == Rgba(127.5, 127.5, 127.5)
    assert composite(WHITE, BLACK) == WHITE
    # Innermost first: a transparent cell in a translucent card over a white canvas.
    background = effective_background(
        ["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0.5)"], canvas="rgb(255, 255, 255)"
    )
    assert background == Rgba(127.5, 127.5, 127.5)
    # An opaque layer hides everything under it.
    assert effective_background(["rgb(22, 27, 34)"], "rgb(255, 255, 255)") == Rgba(22, 27, 34)
    # Nothing opaque up to the root: the canvas (dark when the page's color-scheme is).
    assert effective_background(["rgba(0, 0, 0, 0)"], "rgb(18, 18, 18)") == Rgba(18, 18, 18)


@pytest.mark.parametrize(
    ("size", "weight", "large"),
    [(24, 400, True), (23.9, 700, True), (18.66, 700, True), (18.66, 400, False), (18, 700, False)],
)
def test_large_text(size: float, weight: int, large: bool) -> None:
    assert is_large(size, weight) is large
    assert minimum_ratio(size, weight) == (3.0 if large else 4.5)


def raw(
    text: str, color: str, background: str, size: float = 16, weight: int = 400
) -> dict[str, Any]:
    return {
        "text": text,
        "color": color,
        "backgrounds": ["rgba(0, 0, 0, 0)", background],
        "canvas": "rgb(255, 255, 255)",
        "fontSize": size,
        "fontWeight": weight,
    }


def test_violations_and_findings_name_the_text_the_colours_and_the_mode() -> None:
    samples = [
        sample_of(raw("Readable", "rgb(31, 35, 40)", "rgb(255, 255, 255)")),
        sample_of(raw("Pale heading", "rgb(159, 211, 255)", "rgb(255, 255, 255)")),
        sample_of(raw("Pale heading", "rgb(159, 211, 255)", "rgb(255, 255, 255)")),  # twice
        sample_of(raw("Grey", "rgb(119, 119, 119)", "rgb(255, 255, 255)")),  # 4.48: fails
        sample_of(raw("Big grey", "rgb(119, 119, 119)", "rgb(255, 255, 255)", size=24)),
        sample_of(raw("Half", "rgba(31, 35, 40, 0.3)", "rgb(255, 255, 255)")),
    ]
    found = violations(samples)
    assert [s.text for s in found] == ["Pale heading", "Half", "Grey"]  # lowest first, once
    [first, *_] = contrast_findings(samples, "dark")
    assert first.level is Level.ERROR and first.check == "contrast"
    assert first.line == (
        "error: contrast: dark mode: 1.59:1 is under 4.5:1 for text #9fd3ff on #ffffff: "
        "Pale heading"
    )
    bottom = lowest(samples)
    assert bottom is not None and bottom.text == "Pale heading"
    assert lowest([]) is None


def test_the_page_script_measures_nothing_itself() -> None:
    """The ratio logic stays in Python: the script only reports colours and sizes."""
    assert "backgrounds" in PAGE_SCRIPT and "getComputedStyle" in PAGE_SCRIPT
    assert "luminance" not in PAGE_SCRIPT.lower() and "4.5" not in PAGE_SCRIPT


@pytest.mark.parametrize(
    ("brand", "expected"),
    [
        ("#1d4e89", "#7795b8"),  # the default brand: mixed until it reads on the dark card
        ("#ffffff", "#ffffff"),  # already light: unchanged
        ("#000", "#999999"),  # short form; black needs most of the way to white
    ],
)
def test_a_brand_colour_is_lightened_until_it_reads_on_the_dark_card(
    brand: str, expected: str
) -> None:
    lighter = readable_on(brand, "#161b22", 4.8)
    assert lighter == expected
    assert contrast_ratio(parse_color(lighter), parse_color("#161b22")) >= 4.8
