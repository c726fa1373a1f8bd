"""Why a recipient bounced and whether it is hard: from the remote server's words, the enhanced
status code (RFC 3463) and the SMTP reply code, in that order of trust.

The split is Sisimai's: only an address or domain that does not exist (user unknown, host
unknown, the address has moved, a domain that accepts no mail at all) is hard; a full mailbox,
a policy or spam rejection, an expired retry, a network failure are soft, because the address
exists and may take the next message. Words beat codes because servers send 5.1.1 or 550 for
nearly anything, while "mailbox full" or "blocked" mean what they say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.model import BounceReason as R


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: R
    hard: bool


def _rx(*patterns: str) -> re.Pattern[str]:
    # Matched against lower-cased text: much faster than IGNORECASE on long alternations.
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Soft reasons whose words are specific enough to win over a "user unknown"-like code.
_FIRST: list[tuple[R, re.Pattern[str]]] = [
    (
        R.MAILBOX_FULL,
        _rx(
            r"mail ?box (is )?(full|over ?quota)",
            r"\bover ?quota\b",
            r"exceed\w* (their |the |his |her |its |your )?(storage |disk |mailbox )?quota",
            r"quota (exceeded|exceed|violation|full)",
            r"exceeded? (the |his |her |its )?(storage|quota|mailbox size)",
            r"(disk|mailbox|mail box|storage) (quota|space|limit)? ?"
            r"(has been |is )?(exceeded|full)",
            r"insufficient (system )?storage",
            r"user(\'s)? (mail ?box|quota|disk).{0,20}(full|exceeded)",
            r"too many messages in (this|the) mailbox",
            r"mailfolder is full",
            r"account is (full|over quota)",
            r"recipient'?s? mailbox is full",
            r"\bis full\b",
            r"no space left",
            r"maildir over quota",
            r"size of the mailbox",
        ),
    ),
    (
        R.SPAM,
        _rx(
            r"\bspam\b(?!haus|cop|-?block|\.?trap)",
            r"\bjunk mail\b",
            r"message (content )?(rejected|refused) (as|due to) (spam|unsolicited|content)",
            r"content (rejected|filter)",
            r"(looks|considered|classified) (like|as) (spam|unsolicited|bulk)",
            r"\buce\b",
            r"\bunsolicited\b",
            r"\bvirus\b",
            r"\bmalware\b",
            r"\bphish",
            r"bulk mail",
        ),
    ),
    (
        R.TOO_LARGE,
        _rx(
            r"message (size )?(is )?(too (big|large)|exceeds)",
            r"(size|length) (limit )?exceed",
            r"exceeds? (the )?(maximum|size|message size)",
            r"too large",
            r"message size",
            r"mail size",
            r"\b(5\.3\.4|5\.2\.3)\b",
        ),
    ),
    (
        R.DISABLED,
        _rx(
            r"(account|mailbox|user|address|recipient)( has been| is| was)? "
            r"(disabled|suspended|inactive|deactivated|locked|frozen|closed|expired|"
            r"blocked|not active|no longer active)",
            r"(disabled|suspended|inactive|deactivated|closed|expired|locked) "
            r"(account|mailbox|user)",
            r"account (has been )?(disabled|suspended|terminated)",
            r"mailbox (currently )?unavailable.{0,20}(suspend|inactive|disabled)",
            r"\bsuspended\b",
            r"temporarily disabled",
            r"temporar(y|ily) locked",
            r"disabled (recipient|address|e-?mail)",
        ),
    ),
    (
        R.EXPIRED,
        _rx(
            r"(delivery|retry) time(out)? (has )?expired",
            r"retry (timeout|time) exceeded",
            r"message expired",
            r"expired after",
            r"could not be delivered (with)?in \d+ (days|hours)",
            r"(has been|was) undeliverable for",
            r"too old",
            r"was not delivered within",
            r"timeout exceeded",
            r"deferred for too long",
            r"message timed out",
            r"was delayed (for|more than)",
            r"delivery (to the following recipients? )?(has been )?delayed",
            r"deadline",
            r"(unable|could not|couldn't) (be )?deliver.{0,60}\b(for|after|in) (\d+|the last) "
            r"(days?|hours?)",
            r"time limit",
            r"exceeded (the )?(maximum )?(time|age|retry)",
            r"\bexpired\b",
        ),
    ),
]

# Causes that concern the sender, the connection or the remote system rather than the
# recipient: they beat user-unknown codes too (servers send 5.1.x for them).
_SENDER_SIDE: list[tuple[R, re.Pattern[str]]] = [
    (
        R.SYSTEM,
        _rx(
            r"\bprocmail\b",
            r"mailer error",
            r"command (died|failed)",
            r"internal (system |server )?error",
            r"system error",
            r"mail loop",
            r"loops? back to",
            r"too many hops",
        ),
    ),
    (
        R.NETWORK,
        _rx(
            r"name (service|server) error.{0,120}(malformed|try again|timed out|refused)",
            r"malformed or unexpected name server reply",
            r"host not found, try again",
        ),
    ),
    (
        R.BLOCKED,
        _rx(
            r"black ?list",
            r"\bblock(ed|list|listed)\b",
            r"\b(rbl|dnsbl)\b",
            r"spamhaus|spamcop",
            r"access denied",
            r"reputation",
            r"\bspf\b",
            r"\bdkim\b",
            r"\bdmarc\b",
            r"authentication checks? failed",
            r"reverse (dns|lookup)",
            r"no (relaying|relay)|relay(ing)? (access )?(denied|not permitted|not allowed)",
            r"not (permitted|allowed) to relay",
            r"too many (connections|recipients|messages)",
            r"rate limit",
            r"sender (address )?(rejected|denied|refused|blocked)",
            r"sender (domain|address) (does not|must|is not)",
            r"(not allowed|not authori[sz]ed) to send",
            r"\bon hold\b",
        ),
    ),
]

# Exchange Online's directory-based edge blocking: the recipient is not in the directory.
_DIRECTORY_REJECT = re.compile(
    r"5\.4\.1.{0,80}recipient address rejected: access denied", re.IGNORECASE
)

_MAIL_FROM = re.compile(
    r"after mail from|in reply to mail from|(error following|following) mail command|"
    r">>> mail from:[^\n]*\n\s*<<< [45]",
    re.IGNORECASE,
)
_RCPT_TO = re.compile(
    r"after rcpt to|in reply to rcpt to|(error following|following) rcpt command|"
    r"(does not|did not|doesn't|didn't) like (our )?(rcpt|recipient)|"
    r">>> rcpt to:[^\n]*\n\s*<<< [45]|rcpt to:? ?<[^>]*>:? ?(host \S+ )?.{0,40}[45]\d\d|"
    r"\bRCPT\b",
    re.IGNORECASE,
)
_DATA = re.compile(
    r"after (end of )?data|in reply to (end of )?data|(error following|following) data command|"
    r">>> data\s*\n\s*<<< [45]|after the message was sent|after end of message",
    re.IGNORECASE,
)


def smtp_command(text: str) -> str | None:
    """The SMTP command the remote server refused, where the text says: MAIL, RCPT, DATA."""
    if _MAIL_FROM.search(text):
        return "MAIL"
    if _DATA.search(text):
        return "DATA"
    if _RCPT_TO.search(text):
        return "RCPT"
    return None


# The words of a hard bounce.
_HARD: list[tuple[R, re.Pattern[str]]] = [
    (
        R.DOMAIN_NOT_FOUND,
        _rx(
            r"host (or domain name )?(not found|unknown)",
            r"(domain|host)( name)? (not found|does not exist|doesn't exist|unknown|not exist)",
            r"unknown (host|domain)",
            r"no (such|valid) (domain|host)",
            r"unroutea?ble (address|domain|mail domain)",
            r"name (service|server) error.{0,30}(not found|nxdomain|no such)",
            r"\bnxdomain\b",
            r"no mx (record|host)",
            r"(domain|host) (name )?lookup failed",
            r"illegal host/domain name",
            r"no route (found )?to (the )?(domain|host)",
            r"bad destination (mailbox address|system address)",
            r"dns (error|lookup).{0,40}(not found|does not exist|no such)",
            r"unknown mail domain",
            r"domain is not (available|valid|configured)",
            r"mx (record|lookup).{0,20}(not found|failed|missing)",
            r"unrouteable",
            r"unable to route",
            r"relay not permitted.{0,30}unknown",
            r"host not reachable",  # a DNS-name error in several MTAs' wording
            r"domain (is )?not reachable",
            r"no smtp service",
            r"does not accept (e-?)?mail",
            r"not accepting (network )?messages",
            r"null mx",
            r"invalid (domain|host)",
        ),
    ),
    (
        R.USER_UNKNOWN,
        _rx(
            r"(user|recipient|mailbox|address|account|addressee|destination|local part|"
            r"e-?mail address|email account|alias|name|person|receiver)s?( name)?"
            r"( is)? (unknown|not (found|known|exist|existing|valid|available|registered)|"
            r"does ?n[o']t exist|doesn't exist|non-?existent|invalid|unavailable)",
            r"(unknown|invalid|no such|non-?existent|nonexistent|illegal|bad|undeliverable)"
            r"[ -](local )?(user|recipient|mailbox|address|account|addressee|alias|"
            r"e-?mail address|person|name|receiver|destination)",
            r"no (such|valid) (user|recipient|mailbox|address|account|person|one|addressee)",
            r"(user|mailbox|account|address|recipient) (does not|doesn't|no longer|not) "
            r"(exist|exists|found|valid)",
            r"not (a )?(valid|known) (user|recipient|mailbox|address|account|e-?mail)",
            r"does not have an account",
            r"has no (account|mailbox)",
            r"(is|was) not (a )?(valid|known) (user|recipient|mailbox)",
            r"no mailbox (here|by that name|found)",
            r"not listed in",
            r"unknown or illegal alias",
            r"mailbox not (found|available|present)",
            r"user not local",
            r"not our customer",
            r"no longer (valid|available|active|exists|in use|used|here|with)",
            r"unknown user",
            r"user unknown",
            r"(no|unknown) such (user|mailbox|person|address)",
            r"undeliverable address",
            r"invalid recipient",
            r"(addressee|recipient|user) unknown",
            r"(unknown|invalid) (e-?mail )?address",
            r"this (user|account|address) doesn't have",
            r"(isn't|is not) a (valid )?(user|mailbox)",
            r"mailbox (is )?(unavailable|not exist|doesn't exist|does not exist)",
            r"(has|have) (moved|changed)",
            r"not a known",
            r"\bno one\b",
            r"unknown local",
            r"unknown (recipient|user|account|mailbox)",
            r"rejecting recipient",
            r"mailbox unavailable",
            r"address does not exist",
            r"invalid mailbox",
            r"user doesn'?t exist",
            r"could ?n[o']t be found",
            r"recipient (not found|unknown)",
            r"invalid .{0,20}user ?id",
            r"deactivated mailbox",
            r"unknown address",
            r"the e-?mail account that you tried to reach does not exist",
        ),
    ),
]

# Soft reasons whose words are common enough to lose to a hard bounce's words.
_LATER: list[tuple[R, re.Pattern[str]]] = [
    (
        R.BLOCKED,
        _rx(
            r"\bblock(ed|list|listed)?\b",
            r"black ?list",
            r"\brbl\b",
            r"spamhaus",
            r"spamcop",
            r"\bdnsbl\b",
            r"reputation",
            r"not allowed",
            r"access denied",
            r"client host rejected",
            r"reverse (dns|lookup)",
            r"\bptr\b",
            r"(helo|ehlo)",
            r"relay(ing)? (access )?(denied|not permitted|not allowed|prohibited)",
            r"not (permitted to|allowed to) relay",
            r"we do not relay",
            r"too many (connections|messages|recipients)",
            r"rate limit",
            r"\bpolicy\b",
            r"\bspf\b",
            r"\bdkim\b",
            r"\bdmarc\b",
            r"authenticat",
            r"refused",
            r"\bdenied\b",
            r"not (authorized|authorised)",
            r"prohibited",
            r"sender (address )?(rejected|denied|verify)",
            r"sender (domain|address) (does not|must)",
        ),
    ),
    (
        R.NETWORK,
        _rx(
            r"connection (timed out|refused|reset|lost|closed)",
            r"(timed|time) out",
            r"no route to host",
            r"network (is )?unreachable",
            r"lost connection",
            r"name server",
            r"dns (error|failure|lookup)",
            r"temporary (lookup|dns|failure)",
            r"malformed",
            r"unable to connect",
            r"could not connect",
        ),
    ),
    (
        R.SYSTEM,
        _rx(
            r"mail loop",
            r"loops? back",
            r"too many hops",
            r"system error",
            r"configuration error",
            r"internal (server )?error",
            r"mailer error",
            r"command (died|failed)",
            r"exit (code|status)",
            r"\bprocmail\b",
            r"i/o error",
            r"disk full",
            r"out of memory",
            r"temporar(il)?y (unavailable|failure|error)",
            r"local (error|delivery failed)",
            r"try again later",
            r"syntax error",
        ),
    ),
]

_STATUS_REASON: dict[str, Verdict] = {
    "5.1.1": Verdict(R.USER_UNKNOWN, True),
    "5.1.0": Verdict(R.USER_UNKNOWN, True),
    "5.1.6": Verdict(R.USER_UNKNOWN, True),
    "5.1.2": Verdict(R.DOMAIN_NOT_FOUND, True),
    "5.1.10": Verdict(R.DOMAIN_NOT_FOUND, True),
    "5.7.27": Verdict(R.DOMAIN_NOT_FOUND, True),
    "5.4.4": Verdict(R.DOMAIN_NOT_FOUND, True),
    "5.1.3": Verdict(R.REJECTED, False),
    "5.1.7": Verdict(R.REJECTED, False),
    "5.1.8": Verdict(R.REJECTED, False),
    "5.2.1": Verdict(R.DISABLED, False),
    "5.2.2": Verdict(R.MAILBOX_FULL, False),
    "5.2.3": Verdict(R.TOO_LARGE, False),
    "5.3.4": Verdict(R.TOO_LARGE, False),
    "5.3.0": Verdict(R.SYSTEM, False),
    "5.3.5": Verdict(R.SYSTEM, False),
    "5.4.6": Verdict(R.SYSTEM, False),
    "5.4.7": Verdict(R.EXPIRED, False),
    "4.4.7": Verdict(R.EXPIRED, False),
    "5.6.0": Verdict(R.SPAM, False),
    "5.7.1": Verdict(R.BLOCKED, False),
    "5.7.0": Verdict(R.BLOCKED, False),
    "5.7.26": Verdict(R.BLOCKED, False),
}


def verdict(text: str, status: str | None, code: int | None) -> Verdict:
    """The reason and hardness of one recipient's failure."""
    temporary = (status or "").startswith("4") or (code is not None and 400 <= code < 500)
    sample = text[:2000].lower()
    if sample:
        if _DIRECTORY_REJECT.search(sample):
            return Verdict(R.USER_UNKNOWN, True)
        for reason, pattern in (*_FIRST, *_SENDER_SIDE):
            if pattern.search(sample):
                return Verdict(reason, False)
        command = smtp_command(sample)
        if command == "MAIL":
            # Refused at MAIL FROM: the sender was the problem, not the recipient.
            return Verdict(R.REJECTED, False)
        if not temporary:
            for reason, pattern in _HARD:
                if pattern.search(sample):
                    if reason is R.USER_UNKNOWN and not _names_recipient(status, command):
                        # A "user unknown" after the recipient was accepted, or with a
                        # status that is not about the address, comes from a filter.
                        return Verdict(R.REJECTED, False)
                    return Verdict(reason, True)
    if status in _STATUS_REASON:
        return _STATUS_REASON[status]
    if sample:
        for reason, pattern in _LATER:
            if pattern.search(sample):
                return Verdict(reason, False)
    if status:
        klass, subject = status[0], status[2:].split(".")[0]
        if subject == "1" and klass == "5":
            return Verdict(R.USER_UNKNOWN, True)
        return Verdict(_SUBJECT.get(subject, R.UNKNOWN), False)
    if code is not None:
        return Verdict(_CODES.get(code, R.UNKNOWN), False)
    return Verdict(R.UNKNOWN, False)


def _names_recipient(status: str | None, command: str | None) -> bool:
    """Whether "user unknown" words can be taken at their word: not after DATA (the
    recipient had been accepted), and not under a status that says the cause is undefined,
    the mailbox's state, the remote system or a policy (receiving filters answer so)."""
    if command is not None:
        return command != "DATA"
    if status is None:
        return True
    return status not in ("5.0.0", "5.2.0", "5.3.0") and not status.startswith("5.7.")


_SUBJECT = {
    "1": R.REJECTED,
    "2": R.MAILBOX_FULL,
    "3": R.SYSTEM,
    "4": R.NETWORK,
    "5": R.SYSTEM,
    "6": R.SPAM,
    "7": R.BLOCKED,
}
_CODES = {
    421: R.NETWORK,
    450: R.REJECTED,
    451: R.SYSTEM,
    452: R.MAILBOX_FULL,
    550: R.REJECTED,
    551: R.USER_UNKNOWN,
    552: R.MAILBOX_FULL,
    553: R.REJECTED,
    554: R.REJECTED,
}
