"""Auto-replies, vacation notices and challenge-response messages: mail that comes back to
the sender without being a bounce (RFC 3834 and the headers and subjects used before it)."""

from __future__ import annotations

import re
from email.message import Message

from digest.bounces.message import header

_SUBJECT = re.compile(
    r"out of (the )?office|\bvacation\b|\bon leave\b|\babsen(t|ce)\b|auto(matic)?[ -]?"
    r"(reply|response|responder|antwort|risposta|respuesta|r[ée]ponse)|\bautoreply\b|"
    r"abwesen|urlaub|au[ßs]er haus|nicht im b[üu]ro|"
    r"hors du bureau|en cong[ée]|absence|r[ée]ponse automatique|"
    r"fuera de la oficina|ausente|respuesta autom[áa]tica|"
    r"fuori ufficio|risposta automatica|"
    r"afwezig|niet aanwezig|automatisch antwoord|"
    r"fora do escrit[óo]rio|resposta autom[áa]tica|"
    r"nieobecno[śs][ćc]|odpowied[źz] automatyczna|autoodpowied[źz]|"
    r"frånvaro|fravær|poissa|"
    r"自動応答|自動返信|不在|休暇|自动回复|"
    r"thank you for (your )?(e-?mail|message|contacting)|"
    r"\bis away\b|\bholiday\b",
    re.IGNORECASE,
)
_CHALLENGE = re.compile(
    r"\b(please )?(verify|confirm|authenticate) (that )?(you|your (e-?mail|message|address))|"
    r"challenge[- ]response|whitelist|white list|approved senders|spam ?arrest|boxbe|"
    r"mailchannels|sender verification|verification (request|required)|waitlisted|guest list|"
    r"awaiting your (approval|confirmation)|I'm protected by|"
    r"(is|are) (protected|using) .{0,40}(spam|junk)",
    re.IGNORECASE,
)


def is_auto_reply(message: Message, subject: str) -> bool:
    """Headers or a subject that only auto-replies carry."""
    submitted = header(message, "auto-submitted").strip().lower()
    if submitted.startswith("auto-replied"):
        return True
    if header(message, "x-autoreply") or header(message, "x-autorespond"):
        return True
    if header(message, "x-autoresponse") or header(message, "x-autoreply-from"):
        return True
    precedence = header(message, "precedence").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    if header(message, "x-mailer").lower().startswith("vacation"):
        return True
    return bool(_SUBJECT.search(subject))


def is_challenge(subject: str, text: str) -> bool:
    return bool(_CHALLENGE.search(subject) or _CHALLENGE.search(text[:3000]))
