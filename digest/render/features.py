"""The HTML and CSS features a rendered issue uses, named by caniemail.com's feature slugs.

`feature_uses()` reads the final HTML (lxml) and its CSS, in <style> blocks and style
attributes (cssutils, selectors by cssselect), and reports each use of a feature of the
vocabulary below with where it was found. Content inside comments, which includes the
conditional comments MJML writes for Outlook, is not read. Most of the module is that
vocabulary: tables from tag, attribute, property, value and selector to slug.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cssselect
import cssutils
from lxml import html as lxml_html


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

# Every slug the detection below can report: the caniemail subset holds exactly these.
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


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureUse:
    slug: str
    where: str  # the element, declaration, selector or at-rule, for the reader
    hidden: bool = False  # inside an element hidden with display:none
    initial: bool = False  # a declaration that sets the property to its initial value


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unprefixed(name: str) -> str:
    return re.sub(r"^-(webkit|moz|ms|o)-", "", name.lower())


def is_initial(name: str, value: str) -> bool:
    return value.strip().lower() in INITIAL_VALUES.get(_unprefixed(name), frozenset())


def declaration_slugs(name: str, value: str, important: bool = False) -> set[str]:
    """The features one CSS declaration uses."""
    slugs: set[str] = set()
    if name.startswith("--"):
        slugs.add("css-variables")
    base = _unprefixed(name)
    if base in PROPERTY_SLUGS:
        slugs.add(PROPERTY_SLUGS[base])
    if base == "display" and value.strip().lower() in DISPLAY_SLUGS:
        slugs.add(DISPLAY_SLUGS[value.strip().lower()])
    slugs.update(slug for pattern, slug in VALUE_SLUGS if pattern.search(value))
    if important:
        slugs.add("css-important")
    return slugs


Declaration = tuple[str, str, bool]  # name, value, !important


def _declarations(style: Any) -> tuple[Declaration, ...]:
    """The declarations of a cssutils style declaration block."""
    return tuple(
        (prop.name.lower(), prop.value, bool(prop.priority))
        for prop in style.getProperties(all=True)
    )


@functools.lru_cache(maxsize=1024)
def _style_attribute(text: str) -> tuple[Declaration, ...]:
    # MJML repeats the same few style attributes hundreds of times; parse each once.
    return _declarations(cssutils.parseStyle(text, validate=False))


def _declaration_uses(
    declarations: tuple[Declaration, ...], where: str, *, hidden: bool = False, element: str = ""
) -> Iterator[FeatureUse]:
    for name, value, important in declarations:
        shown = (
            f"{name}: {value} (style of <{element}>)"
            if element
            else f"{where} {{ {name}: {value} }}"
        )
        for slug in declaration_slugs(name, value, important):
            yield FeatureUse(
                slug=slug, where=_short(shown), hidden=hidden, initial=is_initial(name, value)
            )


def selector_slugs(selector_text: str) -> set[str]:
    """The selector features of one selector list, e.g. '.a > b, #c:hover'."""
    slugs: set[str] = set()
    try:
        selectors = cssselect.parse(selector_text)
    except cssselect.SelectorError:
        return slugs
    if len(selectors) > 1:
        slugs.add("css-selector-grouping")
    # cssselect writes an implicit universal selector the same as an explicit one.
    if re.search(r"(?:^|[\s>+~(,])\*", selector_text):
        slugs.add("css-selector-universal")
    for selector in selectors:
        pseudo = selector.pseudo_element
        name = str(getattr(pseudo, "name", pseudo) or "").lower()
        if name in PSEUDO_ELEMENTS:
            slugs.add(f"css-pseudo-element-{name}")
        _tree_slugs(selector.parsed_tree, slugs)
    return slugs


def _tree_slugs(node: Any, slugs: set[str], chained: int = 0) -> None:
    """Walk one cssselect tree; `chained` counts class, id and attribute parts so far."""
    parser = cssselect.parser
    simple = {
        parser.Class: "css-selector-class",
        parser.Hash: "css-selector-id",
        parser.Attrib: "css-selector-attribute",
    }
    if isinstance(node, parser.CombinedSelector):
        slugs.add(COMBINATOR_SLUGS.get(node.combinator, "css-selector-descendant"))
        _tree_slugs(node.selector, slugs)
        _tree_slugs(node.subselector, slugs)
        return
    if isinstance(node, parser.Element):
        if node.element not in (None, "*"):
            slugs.add("css-selector-type")
        return
    if type(node) in simple:
        slugs.add(simple[type(node)])
        if chained:
            slugs.add("css-selector-chaining")
        chained += 1
    elif isinstance(node, parser.Pseudo | parser.Function):
        name = (node.ident if isinstance(node, parser.Pseudo) else node.name).lower()
        if name in PSEUDO_CLASSES:
            slugs.add(f"css-pseudo-class-{name}")
    elif isinstance(node, parser.Negation):
        slugs.add("css-pseudo-class-not")
        _tree_slugs(node.subselector, slugs)
    elif isinstance(node, parser.Relation):
        slugs.add("css-pseudo-class-has")
    inner = getattr(node, "selector", None)
    if inner is not None:
        _tree_slugs(inner, slugs, chained)


def stylesheet_uses(css: str) -> Iterator[FeatureUse]:
    """The features a <style> block uses: at-rules, media features, selectors, declarations."""
    yield from _rules_uses(cssutils.parseString(css, validate=False).cssRules)


def _rules_uses(rules: Any) -> Iterator[FeatureUse]:
    for rule in rules:
        keyword = "@" + str(getattr(rule, "atkeyword", "") or "").lower().lstrip("@")
        if rule.type == rule.MEDIA_RULE:
            media = rule.media.mediaText
            where = _short(f"@media {media}")
            yield FeatureUse(slug="css-at-media", where=where)
            for feature, slug in MEDIA_FEATURE_SLUGS.items():
                if feature in media.lower():
                    yield FeatureUse(slug=slug, where=where)
            yield from _rules_uses(rule.cssRules)
        elif rule.type == rule.STYLE_RULE:
            where = _short(rule.selectorText)
            for slug in selector_slugs(rule.selectorText):
                yield FeatureUse(slug=slug, where=where)
            yield from _declaration_uses(_declarations(rule.style), where)
        elif rule.type == rule.FONT_FACE_RULE:
            yield FeatureUse(slug="css-at-font-face", where="@font-face")
        elif rule.type == rule.IMPORT_RULE:
            yield FeatureUse(slug="css-at-import", where=_short(rule.cssText))
        elif keyword in AT_RULE_SLUGS:
            yield FeatureUse(slug=AT_RULE_SLUGS[keyword], where=_short(rule.cssText, 60))


def _hides(style: str) -> bool:
    return re.search(r"(?:^|;)\s*display\s*:\s*none\b", style, re.IGNORECASE) is not None


def _describe(element: Any) -> str:
    attributes = "".join(
        f' {name}="{_short(value, 40)}"'
        for name, value in element.attrib.items()
        if name != "style"
    )
    return _short(f"<{element.tag}{attributes}>")


def _image_slug(src: str) -> str | None:
    if src.lower().startswith("data:"):
        return "image-base64"
    name = urlsplit(src).path.lower().rsplit("/", 1)[-1]
    return IMAGE_FORMAT_SLUGS.get(name[name.rfind(".") :]) if "." in name else None


def _element_slugs(element: Any) -> Iterator[str]:
    tag = element.tag
    if tag in ELEMENT_SLUGS:
        yield ELEMENT_SLUGS[tag]
    if tag == "input":
        kind = (element.get("type") or "text").lower()
        if kind in INPUT_SLUGS:
            yield INPUT_SLUGS[kind]
    if tag == "button":
        reset = (element.get("type") or "").lower() == "reset"
        yield "html-button-reset" if reset else "html-button-submit"
    name = (element.get("name") or "").lower()
    if tag == "meta" and name in ("color-scheme", "supported-color-schemes"):
        yield "html-meta-color-scheme"
    if tag == "a" and (element.get("href") or "").startswith("#"):
        yield "html-anchor-links"
    if tag in ("img", "source"):
        image = _image_slug((element.get("src") or element.get("srcset") or "").strip())
        if image:
            yield image
    for attribute in element.attrib:
        if attribute.lower() in ATTRIBUTE_SLUGS:
            yield ATTRIBUTE_SLUGS[attribute.lower()]


def _element_uses(element: Any, hidden: bool) -> Iterator[FeatureUse]:
    where = _describe(element)
    for slug in _element_slugs(element):
        yield FeatureUse(slug=slug, where=where, hidden=hidden)
    style = element.get("style")
    if style:
        yield from _declaration_uses(
            _style_attribute(style), where, hidden=hidden, element=element.tag
        )
    if element.tag == "style":
        yield from stylesheet_uses(element.text or "")


def _walk(element: Any, hidden: bool) -> Iterator[FeatureUse]:
    hidden = hidden or _hides(element.get("style") or "")
    yield from _element_uses(element, hidden)
    for child in element:
        if isinstance(child.tag, str):  # not a comment (nor Outlook's conditional ones)
            yield from _walk(child, hidden)


def feature_uses(html: str) -> list[FeatureUse]:
    """Every use of a feature of the vocabulary above in the document."""
    cssutils.log.setLevel(logging.CRITICAL)
    return list(_walk(lxml_html.document_fromstring(html), hidden=False))
