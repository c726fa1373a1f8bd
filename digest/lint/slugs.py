"""The vocabulary of digest.lint.features: tables from HTML tag, attribute, CSS property,
value, at-rule and selector to caniemail.com's feature slugs, and every slug it can report."""

from __future__ import annotations

import re


def _words(text: str) -> list[str]:
    return text.split()


# --- HTML -----------------------------------------------------------------------------------

ELEMENT_SLUGS: dict[str, str] = {
    **{
        tag: f"html-{tag}"
        for tag in _words(
            """form select textarea video audio object svg picture dialog marquee meter
            progress ruby rt rp abbr acronym address bdi blockquote code del dfn pre small
            strike strong span div p hr table wbr base link style body img"""
        )
    },
    "embed": "html-object",
    "map": "html-image-maps",
    **{f"h{n}": "html-h1-h6" for n in range(1, 7)},
    **dict.fromkeys(("ul", "ol", "dl"), "html-lists"),
    **dict.fromkeys(
        _words(
            """article aside details figcaption figure footer header main mark nav section
            summary time"""
        ),
        "html-semantics",
    ),
}
INPUT_SLUGS: dict[str, str] = {
    kind: f"html-input-{kind}" for kind in _words("checkbox hidden radio reset submit text")
}
ATTRIBUTE_SLUGS: dict[str, str] = {
    **{
        name: f"html-{name}"
        for name in _words(
            """hidden popover required target role background dir lang align valign width
            height cellpadding cellspacing srcset"""
        )
    },
    "loading": "html-loading-attribute",
    "inert": "css-inert-attribute",
    **{
        f"aria-{name}": f"html-aria-{name}"
        for name in _words("describedby hidden label labelledby live")
    },
}
IMAGE_FORMAT_SLUGS: dict[str, str] = {
    **{
        f".{kind}": f"image-{kind}"
        for kind in _words("apng avif bmp gif hdr heif ico jpg mp4 png svg tiff webp")
    },
    ".heic": "image-heif",
    ".jpeg": "image-jpg",
    ".tif": "image-tiff",
}
OTHER_HTML_SLUGS = frozenset(
    _words(
        """html-button-reset html-button-submit html-anchor-links html-meta-color-scheme
        image-base64"""
    )
)

# --- CSS ------------------------------------------------------------------------------------

_SIDES = _words("top right bottom left")
PROPERTY_SLUGS: dict[str, str] = {
    **{
        name: f"css-{name}"
        for name in _words(
            """accent-color align-items animation aspect-ratio backdrop-filter background
            background-blend-mode background-clip background-color background-image
            background-origin background-position background-repeat background-size border
            border-collapse border-image border-radius border-spacing box-shadow box-sizing
            caption-side clear clip-path color-scheme column-count cursor direction display
            empty-cells filter flex-direction flex-wrap float font font-kerning font-size
            font-size-adjust font-stretch font-weight gap height hyphenate-character
            hyphenate-limit-chars hyphens inline-size inset justify-content letter-spacing
            line-height list-style list-style-image list-style-position list-style-type margin
            mask-image max-block-size max-height max-inline-size max-width min-block-size
            min-height min-inline-size min-width mix-blend-mode object-fit object-position
            opacity orphans outline outline-offset overflow overflow-wrap padding position
            resize shape-margin shape-outside tab-size table-layout text-align
            text-align-last text-decoration text-decoration-color text-decoration-line
            text-decoration-skip-ink text-decoration-style text-decoration-thickness
            text-emphasis text-emphasis-position text-indent text-justify text-orientation
            text-overflow text-shadow text-transform text-underline-offset
            text-underline-position text-wrap transform transition user-select vertical-align
            visibility white-space white-space-collapse widows width word-break word-spacing
            word-wrap writing-mode z-index"""
        )
    },
    **dict.fromkeys(_SIDES, "css-left-right-top-bottom"),
    **{f"{box}-{side}": f"css-{box}" for box in ("margin", "padding") for side in _SIDES},
    **{
        f"border-{part}": "css-border"
        for part in [*_SIDES, "width", "style", "color"]
        + [f"{side}-{p}" for side in _SIDES for p in ("width", "style", "color")]
    },
    **{
        f"border-{v}-{h}-radius": "css-border-radius"
        for v in ("top", "bottom")
        for h in ("left", "right")
    },
    **{
        f"border-{b}-{i}-radius": "css-border-radius-logical"
        for b in ("start", "end")
        for i in ("start", "end")
    },
    **{f"overflow-{axis}": "css-overflow" for axis in ("x", "y")},
    "mask": "css-mask-image",
    "row-gap": "css-gap",
    "column-gap": "css-gap",
    "transform-origin": "css-transform",
    "block-size": "css-block-inline-size",
    "contain-intrinsic-size": "css-intrinsic-size",
    **{f"animation-{p}": "css-animation" for p in _words("name duration delay iteration-count")},
    **{f"transition-{p}": "css-transition" for p in _words("property duration delay")},
    **{f"grid-template{p}": "css-grid-template" for p in ("", "-columns", "-rows", "-areas")},
    **dict.fromkeys(
        _words("columns column-width column-rule column-span column-fill"),
        "css-column-layout-properties",
    ),
    **{f"scroll-snap-{p}": "css-scroll-snap" for p in _words("type align stop")},
    **{
        f"{box}-{axis}": f"css-{box}-inline-block"
        for box in ("margin", "padding")
        for axis in ("inline", "block")
    },
    **{
        f"{box}-{axis}-{edge}": f"css-{box}-{axis}-start-end"
        for box in ("margin", "padding")
        for axis in ("inline", "block")
        for edge in ("start", "end")
    },
    **{f"border-{axis}": "css-border-inline-block" for axis in ("inline", "block")},
    **{
        f"border-{axis}-{edge}": "css-border-inline-block-individual"
        for axis in ("inline", "block")
        for edge in ("start", "end")
    },
    **{
        f"border-{axis}-{part}": "css-border-inline-block-longhand"
        for axis in ("inline", "block")
        for part in ("width", "style", "color")
    },
}
_FUNCTION = r"(?<![\w-]){}\("
_NUMBER = r"(?<![\w.-])-?(\d+\.?\d*|\.\d+)"
# Features found in property values.
VALUE_SLUGS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), slug)
    for pattern, slug in (
        (_FUNCTION.format("(repeating-)?linear-gradient"), "css-linear-gradient"),
        (_FUNCTION.format("(repeating-)?radial-gradient"), "css-radial-gradient"),
        (_FUNCTION.format("(repeating-)?conic-gradient"), "css-conic-gradient"),
        (_FUNCTION.format("calc"), "css-unit-calc"),
        (_FUNCTION.format("clamp"), "css-function-clamp"),
        (_FUNCTION.format("min"), "css-function-min"),
        (_FUNCTION.format("max"), "css-function-max"),
        (_FUNCTION.format("var"), "css-variables"),
        (_FUNCTION.format("light-dark"), "css-function-light-dark"),
        (_FUNCTION.format("rgb"), "css-rgb"),
        (_FUNCTION.format("rgba"), "css-rgba"),
        (_FUNCTION.format("(oklch|oklab|lch|lab|hwb|color)"), "css-modern-color"),
        (r"(?<![\w-])system-ui\b", "css-sytem-ui"),  # sic: the upstream slug
        (r"^\s*initial\s*$", "css-unit-initial"),
        *(
            (_NUMBER + unit + r"(?![\w%])", f"css-unit-{unit}")
            for unit in _words("px em rem pt pc cm mm in ex ch vh vw vmin vmax")
        ),
        (_NUMBER + "%", "css-unit-percent"),
    )
)
DISPLAY_SLUGS: dict[str, str] = {
    "flex": "css-display-flex",
    "inline-flex": "css-display-flex",
    "grid": "css-display-grid",
    "inline-grid": "css-display-grid",
    "none": "css-display-none",
}
AT_RULE_SLUGS: dict[str, str] = {
    f"@{name}": f"css-at-{name}" for name in _words("media font-face import keyframes supports")
}
MEDIA_FEATURE_SLUGS: dict[str, str] = {
    **{
        name: f"css-at-media-{name}"
        for name in _words("prefers-color-scheme prefers-reduced-motion orientation hover")
    },
    "device-pixel-ratio": "css-at-media-device-pixel-ratio",
    "resolution": "css-at-media-device-pixel-ratio",
}
PSEUDO_CLASSES = frozenset(
    _words(
        """active checked default first-child first-of-type focus focus-visible focus-within
        has hover lang last-child last-of-type link not nth-child nth-last-child
        nth-last-of-type nth-of-type only-child only-of-type target visited"""
    )
)
PSEUDO_ELEMENTS = frozenset(_words("after before first-letter first-line marker placeholder"))
COMBINATOR_SLUGS: dict[str, str] = {
    " ": "css-selector-descendant",
    ">": "css-selector-child",
    "+": "css-selector-adjacent-sibling",
    "~": "css-selector-general-sibling",
}
SELECTOR_SLUGS = frozenset(
    (
        *COMBINATOR_SLUGS.values(),
        *(
            f"css-selector-{kind}"
            for kind in _words("attribute chaining class grouping id type universal")
        ),
    )
)
# Declarations that set a property to its initial value (MJML's CSS reset does, e.g.
# `img { height: auto; outline: none }`): a client that ignores them shows the same.
INITIAL_VALUES: dict[str, frozenset[str]] = {
    name: frozenset(_words(values))
    for name, values in {
        "height": "auto",
        "width": "auto",
        "min-height": "0 0px auto",
        "min-width": "0 0px auto",
        "max-height": "none",
        "max-width": "none",
        "outline": "none 0",
        "border-spacing": "0 0px",
        "word-spacing": "normal 0",
        "letter-spacing": "normal",
        "word-break": "normal",
        "white-space": "normal",
        "position": "static",
        "float": "none",
        "clear": "none",
        "text-shadow": "none",
        "box-shadow": "none",
        "opacity": "1",
        "overflow": "visible",
        "visibility": "visible",
        "z-index": "auto",
        "transform": "none",
        "filter": "none",
    }.items()
}

# Every slug digest.lint.features can report: the caniemail subset holds exactly these.
KNOWN_SLUGS: frozenset[str] = frozenset(
    (
        *ELEMENT_SLUGS.values(),
        *INPUT_SLUGS.values(),
        *ATTRIBUTE_SLUGS.values(),
        *IMAGE_FORMAT_SLUGS.values(),
        *OTHER_HTML_SLUGS,
        *PROPERTY_SLUGS.values(),
        *(slug for _, slug in VALUE_SLUGS),
        *DISPLAY_SLUGS.values(),
        "css-important",
        *AT_RULE_SLUGS.values(),
        *MEDIA_FEATURE_SLUGS.values(),
        *(f"css-pseudo-class-{name}" for name in PSEUDO_CLASSES),
        *(f"css-pseudo-element-{name}" for name in PSEUDO_ELEMENTS),
        *SELECTOR_SLUGS,
    )
)
