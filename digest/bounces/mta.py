"""Bounces without a delivery-status part: the human-readable notices of qmail, Exim, older
Postfix and Sendmail, Exchange, Lotus Notes, GroupWise, webmail providers and the rest.

The rules are by shape, not by sample: the notice is cut where the returned message starts,
the recipient is an address the notice sets apart (alone on a line, before a colon, in angle
brackets next to an error), and the diagnostic is the text around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.bounces.addresses import ADDRESS, clean, is_system

# Where a notice ends and the copy of the returned message (or its headers) begins.
_ORIGINAL_START = re.compile(
    r"^\s*(-{2,}.{0,40}(below this line|original message|returned message|message follows|"
    r"copy of (the|your) message|rfc ?822|headers? of|original mail|undelivered message|"
    r"unsent message|message text|message header).{0,60}$"
    r"|-+ ?original message ?-+"
    r"|(original|returned|undelivered) message( headers)?( follows)?:?\s*$"
    r"|the (original|returned) message (was|is) (attached|below)"
    r"|-+\s*the header of the original message is following\.?\s*-+"
    r"|this is a copy of the (original )?message"
    r"|content-type: (message/rfc822|text/rfc822-headers)"
    r"|\*{2,}.{0,20}original message.{0,30}$"
    r"|(original|returned) message headers?\s*:?\s*$"
    r"|received: from .{3,200}$"
    r"|message-id:\s*<)",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNCE_WORDS = re.compile(
    r"undeliver|undelivered|not be delivered|couldn't be delivered|could not deliver|"
    r"delivery (has )?failed|delivery failure|failed delivery|permanent (error|failure)|"
    r"fatal error|returned mail|mail delivery (failed|failure|subsystem|system)|"
    r"delivery status notification|non[- ]?delivery|nondeliverable|not deliverable|"
    r"unable to deliver|wasn't able to deliver|was not delivered|message not delivered|"
    r"failure notice|user unknown|unknown user|no such user|mailbox (is )?(full|unavailable)|"
    r"rejected|bounced?|could not be sent|delivery problem|error (sending|delivering)|"
    r"delivery notification|failed to deliver|message you sent|delivery to the following|"
    r"following (addresses|recipients?) (had|failed)|host unknown|domain not found|"
    r"over quota|quota exceeded|unrouteable|unroutable|does not exist|"
    r"smtp error|permanently|temporary (error|failure)|retry timeout|have been delayed|"
    r"delay(ed)? (notice|delivery)|has not (yet )?been delivered|"
    r"your message .{0,40}(could not|was not|couldn't|wasn't|cannot)|"
    r"this is the (qmail|mail delivery|postfix)|mailer-daemon|"
    r"undeliverable|no valid recipients|unknown recipient|returned to sender|"
    r"invalid (user|recipient|address)|error message|postponed|did not (exactly )?match|"
    r"not able to deliver|did not receive this message|given up|trouble delivering",
    re.IGNORECASE,
)
_SUBJECT_WORDS = re.compile(
    r"undeliver|not delivered|delivery (status )?(notification|failure|failed|problem|report)|"
    r"failure notice|returned mail|mail delivery failed|delivery failed|nondeliverable|"
    r"non[- ]?delivery|could not (be )?deliver|failed delivery|bounce|rejected|"
    r"mail system error|delivery final|warning: could not send|delayed mail|"
    r"delivery (has been )?delayed|message status|returned to sender|mail failure|"
    r"error sending|not be delivered|delivery error|unzustellbar|non remis|"
    r"non consegnato|no entregado|onbestelbaar|配信|不達|エラー|未送達|退信|"
    r"undelivered|permanent error|delivery notification|system administrator|"
    r"failed mail|mail failed|delivery warning|returned|failure|could not send|"
    r"mail error|error message",
    re.IGNORECASE,
)
_ERROR_LINE = re.compile(
    r"\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b|unknown|not exist|doesn't exist|"
    r"no such|invalid|full|quota|reject|refused|denied|block|disabled|inactive|"
    r"not found|failed|failure|error|expired|unavailable|unrouteable|unroutable|spam|"
    r"timed out|too large|exceed|not (allowed|permitted|accept|valid|delivered)|"
    r"is not|does not|cannot|can't|couldn't|could not|unable",
    re.IGNORECASE,
)
_NOISE_LINE = re.compile(
    r"^\s*(from|to|cc|subject|date|sender|reply-to|return-path|message-id|in-reply-to|"
    r"references|x-[a-z-]+|reporting-mta|received|dkim-signature)\s*:",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Notice:
    """What a notice without a report says: recipients and the words about them."""

    recipients: list[str]
    diagnostics: dict[str, str]  # recipient -> the lines about it
    text: str  # the notice itself, without the returned message


_SYSTEM_SENDER = re.compile(
    r"mailer-?daemon|post_?master|mail ?delivery|mailadmin|mail ?system|mmdf|administrator|"
    r"daemon|mail ?server|delivery ?(status|subsystem|notification)|auto-?reply@|"
    r"^\s*<?>?\s*$",
    re.IGNORECASE,
)


def is_system_sender(sender: str) -> bool:
    """A From header of a mail system (by address or by display name)."""
    return bool(_SYSTEM_SENDER.search(sender))


def looks_like_bounce(sender: str, subject: str, text: str) -> bool:
    """A notice from a mail system, in a subject or words that bounces use."""
    system = is_system_sender(sender)
    subject_says = bool(_SUBJECT_WORDS.search(subject))
    body_says = bool(_BOUNCE_WORDS.search(text[:6000]))
    return (system and (subject_says or body_says)) or (subject_says and body_says)


def notice_text(texts: list[str]) -> str:
    """The notice's own text: every text part, each cut where a returned message begins."""
    kept: list[str] = []
    for text in texts:
        match = _first_original(text)
        kept.append(text[:match] if match is not None else text)
    return "\n".join(kept)


def _first_original(text: str) -> int | None:
    for match in _ORIGINAL_START.finditer(text):
        # A marker in the first lines is the notice's own header block, not the copy.
        if match.start() > 40 or match.group(0).lstrip().startswith("-"):
            return match.start()
    return None


def read(text: str, exclude: set[str], senders: set[str] | None = None) -> Notice:
    """The recipients a notice names and the lines about each. `senders` (the returned
    message's sender) are never recipients; `exclude` (the bounce's own addressees too) are
    not taken from a passing mention, but are when the notice sets them apart, as a bounce
    of a bounce or of a message to oneself does."""
    senders = senders if senders is not None else exclude
    lines = text.splitlines()
    strong: list[str] = []
    weak: list[str] = []
    where: dict[str, int] = {}
    for number, line in enumerate(lines):
        if _NOISE_LINE.match(line):
            continue
        for match in ADDRESS.finditer(line):
            address = clean(match.group(1))
            if address in senders or is_system(address) or _is_message_id(line, match):
                continue
            where.setdefault(address, number)
            if _is_strong(line, match, lines, number):
                if address not in strong:
                    strong.append(address)
            elif address not in weak and address not in exclude:
                weak.append(address)
    chosen = strong or weak[:1]
    diagnostics = {a: _lines_about(lines, where[a]) for a in chosen}
    return Notice(recipients=chosen, diagnostics=diagnostics, text=text)


def _is_message_id(line: str, match: re.Match[str]) -> bool:
    before = line[: match.start()].lower()
    return "message-id" in before or "msgid" in before or "message id" in before


_STRONG_ALONE = re.compile(r"^\s*[<\"(]?\s*$")
_STRONG_AFTER = re.compile(
    r"^[>\"')]?\s*(:|\.\.\.|$|\(|\[|;|-{1,2} |, |\s+(smtp|said|user|"
    r"mailbox|recipient|unknown|host|domain|failed|error|reason|"
    r"refused|rejected|is|was|does|has|not|no|over|quota))",
    re.I,
)
_RECIPIENT_FIELD = re.compile(
    r"(rcpt to|recipient( address)?|failed recipients?|original-recipient|addressed to|address|"
    r"unknown user|invalid address|bad address)\s*:?\s*[<\"]?\s*$",
    re.IGNORECASE,
)
_RECIPIENT_BEFORE = re.compile(
    r"(recipient|to|address|user|mailbox|addressee|rcpt to|deliver(ed|y)? to|for|"
    r"account|destination|failed|unknown)[^a-z]{0,12}$",
    re.IGNORECASE,
)


def _is_strong(line: str, match: re.Match[str], lines: list[str], number: int) -> bool:
    """An address set apart as the subject of the notice, not mentioned in passing."""
    before = line[: match.start()]
    after = line[match.end() :]
    if _STRONG_ALONE.match(before) and _STRONG_AFTER.match(after):
        return True
    if _RECIPIENT_FIELD.search(before):
        return True
    if _RECIPIENT_BEFORE.search(before) and _ERROR_LINE.search(line):
        return True
    return bool(before.rstrip().endswith("<") and _ERROR_LINE.search(after))


def _lines_about(lines: list[str], number: int) -> str:
    """The recipient's line and the lines after it up to a blank line (six at most)."""
    about = [lines[number].strip()]
    for line in lines[number + 1 : number + 7]:
        if not line.strip():
            if len(about) > 1:
                break
            continue
        about.append(line.strip())
    return " ".join(about)


def error_lines(text: str, limit: int = 6) -> str:
    """The notice's lines that carry a code or an error word, joined."""
    found = []
    for line in text.splitlines():
        if _ERROR_LINE.search(line) and not _NOISE_LINE.match(line):
            found.append(line.strip())
            if len(found) >= limit:
                break
    return " ".join(found)
