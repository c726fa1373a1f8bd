"""Reading dates and deadlines written in prose: "before 15 January 2027", "12–14 March 2027",
"Friday, 15th January", "March 12-14", "jusqu'au 1er mars 2027", "bis zum 15. Januar 2027",
"antes del 15 de enero de 2027", "entro il 15 gennaio 2027".

The month names of English, French, German, Spanish and Italian are matched in place and
mapped to month numbers (a table, no new dependency); numeric dates follow the source's
day order; a date without a year is the next such day from `now`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Full month names, then their usual abbreviations, in the five languages; accents are
# stripped before lookup so "février", "fevrier" and "févr." all match.
_FULL: dict[str, int] = {}
_SHORT: dict[str, int] = {}
_NAMES = (
    # English
    "january february march april may june july august september october november december",
    # French
    "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre",
    # German
    "januar februar marz april mai juni juli august september oktober november dezember",
    # Spanish
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    # Italian
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
)
_ABBREVIATIONS = (
    "jan feb mar apr may jun jul aug sep oct nov dec",  # English
    "janv fevr fev avr juil sept",  # French (others shared with English)
    "jan feb mrz marz apr mai jun jul aug sep sept okt nov dez",  # German
    "ene feb mar abr may jun jul ago sep sept set oct nov dic",  # Spanish
    "gen feb mar apr mag giu lug ago set ott nov dic",  # Italian
)
for _line in _NAMES:
    for _number, _name in enumerate(_line.split(), start=1):
        _FULL[_name] = _number
# Abbreviations beyond the English ones (which French, German, Spanish and Italian share in
# part); "sept" and "set" are September, "ago" August, "gen" January.
_SHORT.update(
    {
        **{m: i for i, m in enumerate(_ABBREVIATIONS[0].split(), 1)},
        "janv": 1, "fevr": 2, "fev": 2, "avr": 4, "juil": 7, "sept": 9,
        "mrz": 3, "marz": 3, "mai": 5, "okt": 10, "dez": 12,
        "ene": 1, "abr": 4, "ago": 8, "set": 9, "dic": 12,
        "gen": 1, "mag": 5, "giu": 6, "lug": 7, "ott": 10,
    }
)  # fmt: skip


def _accented(name: str) -> str:
    """A regex for `name` that also matches its accented spellings (é, è, û, ä...)."""
    return "".join(
        {"e": "[eéèê]", "u": "[uûü]", "a": "[aäàâ]", "o": "[oôö]", "i": "[iî]"}.get(c, c)
        for c in name
    )


def _alternation(names: list[str]) -> str:
    return "|".join(_accented(n) for n in sorted(names, key=len, reverse=True))


# Longest first, so "septembre" is not read as "sept" + "embre".
_MONTH = rf"(?:{_alternation(list(_FULL))}|(?:{_alternation(list(_SHORT))})\.?)"
_MONTH_EN = (
    rf"(?:{_alternation(_NAMES[0].split())}|(?:{_alternation(_ABBREVIATIONS[0].split())})\.?)"
)
# 15, 15th, 1st, 1er (French), 1º (Spanish/Italian), 15. (German)
_DAY = r"(?:[0-2]?\d|3[01])(?:st|nd|rd|th|er|re|º|°|ª|\.)?"
_DASH = r"\s*(?:[-–—]|to|au|al|bis)\s*"
_YEAR = r"(?:19|20)\d{2}"
# "15 January", "15 de enero de", "15th of January", "15. Januar"
_OF = r"(?:\s*|\s+(?:of|de|del)\s+)"
_TIME = (
    r"(?:,?\s*(?:(?:at|à|a|um|a\s+las|alle(?:\s+ore)?|ore|from|de|dalle|von|h)\s+)?"
    r"(?P<hour>[01]?\d|2[0-3])(?:[:h](?P<minute>[0-5]\d))?\s*(?P<ampm>[ap]\.?m\b\.?)?"
    r"(?(minute)|(?(ampm)|(?!)))"  # a bare number is no time: it needs minutes or am/pm
    r")?"
)

_ISO = re.compile(
    r"(?<![\w/.-])(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::\d{2}(?:\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?)?(?![\w-])"
)
_NUMERIC = re.compile(
    r"(?<![\w/.:-])(?P<a>\d{1,2})[./](?P<b>\d{1,2})[./](?P<year>\d{4}|\d{2})(?![\w/]|\.\d)" + _TIME,
    re.IGNORECASE,
)
# "12–14 March 2027", "28 February – 2 March 2027", "Friday 15th January", "1er mars 2027"
_DAY_FIRST = re.compile(
    rf"(?<![\w/.:-])(?P<day>{_DAY})(?:{_OF}(?P<month1>{_MONTH}))?(?:{_DASH}(?P<day2>{_DAY}))?"
    rf"{_OF}(?P<month>{_MONTH})(?:,?{_OF}(?P<year>{_YEAR}))?(?![\w])" + _TIME,
    re.IGNORECASE,
)
# "March 12-14, 2027", "January 15th, 2027", "Jan. 15" (an English habit only)
_MONTH_FIRST = re.compile(
    rf"(?<![\w])(?P<month>{_MONTH_EN})\s+(?P<day>{_DAY})(?:{_DASH}(?P<day2>{_DAY}))?"
    rf"(?:,?\s+(?P<year>{_YEAR}))?(?![\w])" + _TIME,
    re.IGNORECASE,
)

# Words that announce a deadline, in the five languages; the date must follow closely (a few
# words for "by"/"before", a clause for "deadline ...:").
_STRONG = (
    r"deadline|closing\s+date|closes|due\s+date|"
    r"date\s+limite|cl[oô]ture|"
    r"frist|einsendeschluss|bewerbungsschluss|anmeldeschluss|stichtag|"
    r"fecha\s+l[ií]mite|plazo|cierre|"
    r"scadenza|termine"
)
_WEAK = (
    r"before|by|until|till|no\s+later\s+than|not\s+later\s+than|due|"
    r"avant|jusqu['’]\s*(?:au|à)|au\s+plus\s+tard|d['’]ici|"
    r"bis|sp[aä]testens|vor|"
    r"antes\s+de(?:l)?|hasta|a\s+m[aá]s\s+tardar|"
    r"entro|fino\s+al|prima\s+del"
)
_TRIGGER = re.compile(rf"\b(?:(?P<strong>{_STRONG})|(?P<weak>{_WEAK}))\b", re.IGNORECASE)
# What may stand between the trigger and its date: "deadline for applications: ",
# "by the ", "bis zum ", "before 5pm on ".
_STRONG_GAP = re.compile(r"[^!?\n<]{0,60}")
_WEAK_GAP = re.compile(r"[^!?\n<.;]{0,20}")
_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?:\s|$)")
# A deadline phrase that was not read, for the editor: the trigger and what follows.
_PHRASE_CHARS = 60
# A date without a year this long before `now` is read as next year's.
_PAST_GRACE = timedelta(days=183)


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundDate:
    """A date read from text: its start (UTC), the end of a range, whether a time was given,
    and the words it was read from."""

    start: datetime
    end: datetime | None = None
    has_time: bool = False
    phrase: str


def _fold(text: str) -> str:
    """Lower case without accents: "Févr." -> "fevr."."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).rstrip(".")


def month_number(name: str) -> int | None:
    """1-12 for a month name or abbreviation in one of the five languages, else None."""
    key = _fold(name)
    return _FULL.get(key) or _SHORT.get(key)


def _day(text: str) -> int:
    return int(re.match(r"\d+", text).group())  # type: ignore[union-attr]


def _clock(match: re.Match[str]) -> time | None:
    groups = match.groupdict()
    hour = groups.get("hour")
    if hour is None:
        return None
    h, m = int(hour), int(groups.get("minute") or 0)
    ampm = (groups.get("ampm") or "").lower()
    if ampm.startswith("p") and h < 12:
        h += 12
    elif ampm.startswith("a") and h == 12:
        h = 0
    if h > 23:
        return None
    return time(h, m)


def _year(
    year: str | None, month: int, day: int, now: datetime | None, has_full_month: bool
) -> int | None:
    if year:
        value = int(year)
        return value + 2000 if value < 100 else value
    # A yearless date needs a spelled-out month (so "the 3 set" is no date) and a now.
    if now is None or not has_full_month:
        return None
    guess = now.year
    try:
        if datetime(guess, month, day, tzinfo=UTC) < now - _PAST_GRACE:
            guess += 1
    except ValueError:
        return None
    return guess


def _at(
    year: int, month: int, day: int, clock: time | None, tz: str, zone: str | None = None
) -> datetime | None:
    try:
        local = datetime.combine(datetime(year, month, day).date(), clock or time())
        if zone:
            offset = 0 if zone == "Z" else int(zone[1:3]) * 60 + int(zone[-2:])
            sign = -1 if zone.startswith("-") else 1
            return (local - timedelta(minutes=sign * offset)).replace(tzinfo=UTC)
        return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _read(
    match: re.Match[str], form: str, *, dayfirst: bool, tz: str, now: datetime | None
) -> FoundDate | None:
    clock = _clock(match)
    phrase = match.group(0).strip()
    end_day: int | None = None
    end_month: int | None = None
    zone: str | None = None
    if form == "iso":
        year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
        zone = match["zone"]
        y: int | None = year
    elif form == "numeric":
        a, b = int(match["a"]), int(match["b"])
        day, month = (a, b) if dayfirst else (b, a)
        y = _year(match["year"], month, day, now, True)
    else:
        month_text = match["month"]
        month = month_number(month_text) or 0
        full = _fold(month_text) in _FULL
        first_month = (
            month_number(match["month1"]) if form == "dayfirst" and match["month1"] else None
        )
        if match["day2"]:
            # "12–14 March": starts on the 12th; "28 February – 2 March": month1 is February.
            day, end_day, end_month = _day(match["day"]), _day(match["day2"]), month
            if first_month:
                month = first_month
        else:
            day = _day(match["day"])
            if first_month:  # "15 January 3 February": not a form we read
                return None
        # English writes months with a capital: "it may 2 times" is no date.
        if form == "monthfirst" and not match["year"] and month_text[0].islower():
            return None
        y = _year(match["year"], month, day, now, full)
    if y is None or not 1 <= month <= 12:
        return None
    start = _at(y, month, day, clock, tz, zone)
    if start is None:
        return None
    end = None
    if end_day is not None and end_month is not None:
        end_year = y + 1 if end_month < month else y
        end = _at(end_year, end_month, end_day, None, tz)
        if end is None or end < start:
            return None
    return FoundDate(start=start, end=end, has_time=clock is not None, phrase=phrase)


_FORMS = (
    ("iso", _ISO),
    ("numeric", _NUMERIC),
    ("dayfirst", _DAY_FIRST),
    ("monthfirst", _MONTH_FIRST),
)


def dates_in(
    text: str,
    *,
    dayfirst: bool = True,
    tz: str = "UTC",
    now: datetime | None = None,
    start: int = 0,
) -> list[tuple[int, int, FoundDate]]:
    """Every date written in `text` from `start`, as (start, end, date), in reading order."""
    spans: list[tuple[int, int, FoundDate]] = []
    for form, pattern in _FORMS:
        for match in pattern.finditer(text, start):
            found = _read(match, form, dayfirst=dayfirst, tz=tz, now=now)
            if found is not None:
                spans.append((match.start(), match.end(), found))
    # Where two readings overlap, the one that starts first and is longest wins.
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, FoundDate]] = []
    for span in spans:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def find_date(
    text: str, *, dayfirst: bool = True, tz: str = "UTC", now: datetime | None = None
) -> FoundDate | None:
    """The first date written in `text` (an event's title or summary), or None."""
    found = dates_in(text, dayfirst=dayfirst, tz=tz, now=now)
    return found[0][2] if found else None


def find_deadline(
    text: str, *, dayfirst: bool = True, tz: str = "UTC", now: datetime | None = None
) -> FoundDate | None:
    """The date a deadline phrase announces ("Deadline: 22/10/2017", "before 15 January 2027",
    "no later than March 12"), or None. A range's deadline is its last day."""
    for trigger in _TRIGGER.finditer(text):
        gap = _STRONG_GAP if trigger.group("strong") else _WEAK_GAP
        reach = gap.match(text, trigger.end()).end()  # type: ignore[union-attr]
        for begin, _end, found in dates_in(
            text, dayfirst=dayfirst, tz=tz, now=now, start=trigger.end()
        ):
            if begin > reach:
                break
            if found.end is not None:
                return FoundDate(start=found.end, has_time=False, phrase=found.phrase)
            return found
    return None


def deadline_phrase(text: str) -> str | None:
    """The words of the first deadline phrase in `text`, for an editor to read when no date
    could be read from it ("before mid-January"), else None."""
    triggers = list(_TRIGGER.finditer(text))
    # "Deadline ..." says more than a "by" or "until" earlier in the text.
    strong = [t for t in triggers if t.group("strong")]
    if not triggers:
        return None
    trigger = (strong or triggers)[0]
    tail = text[trigger.start() : trigger.start() + _PHRASE_CHARS]
    sentence = _SENTENCE_END.split(tail, maxsplit=1)[0]
    return " ".join(sentence.split())
