"""The HTML and CSS features a rendered issue uses, named by caniemail.com's feature slugs.

`feature_uses()` reads the final HTML (lxml) and its CSS, in <style> blocks and style
attributes (cssutils, selectors by cssselect), and reports each use of a feature of the
vocabulary in digest.lint.slugs with where it was found. Content inside comments, which
includes the conditional comments MJML writes for Outlook, is not read.
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

from digest.lint.slugs import (
    AT_RULE_SLUGS,
    ATTRIBUTE_SLUGS,
    COMBINATOR_SLUGS,
    DISPLAY_SLUGS,
    ELEMENT_SLUGS,
    IMAGE_FORMAT_SLUGS,
    INITIAL_VALUES,
    INPUT_SLUGS,
    MEDIA_FEATURE_SLUGS,
    PROPERTY_SLUGS,
    PSEUDO_CLASSES,
    PSEUDO_ELEMENTS,
    VALUE_SLUGS,
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
    """Every use of a feature of the vocabulary (digest.lint.slugs) in the document."""
    cssutils.log.setLevel(logging.CRITICAL)
    return list(_walk(lxml_html.document_fromstring(html), hidden=False))
