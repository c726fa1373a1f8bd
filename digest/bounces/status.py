"""Why a recipient bounced and whether it is hard: from the remote server's words, the enhanced
status code (RFC 3463) and the SMTP reply code, in that order of trust.

The split is Sisimai's: only an address or domain that does not exist (user unknown, host
unknown, the address has moved, a domain that accepts no mail at all) is hard; a full mailbox,
a policy or spam rejection, an expired retry, a network failure are soft, because the address
exists and may take the next message. Words beat codes because servers send 5.1.1 or 550 for
nearly anything, while "mailbox full" or "blocked" mean what they say.

The `_SISIMAI_*` phrase lists and the status-code table are phrases after Sisimai
(BSD-2-Clause, (C) azumakuniyuki): lib/Sisimai/Reason/*.pm and lib/Sisimai/SMTP/Status.pm of
github.com/sisimai/p5-sisimai v5.1.0, the phrases MTAs and providers actually send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from digest.model import BounceReason as R


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: R
    hard: bool


def _rx(*patterns: str) -> re.Pattern[str]:
    # Matched against lower-cased text: much faster than IGNORECASE on long alternations.
    return re.compile("|".join(f"(?:{p})" for p in patterns))


Phrase = str | tuple[str, ...]


def _phrases(*items: Phrase) -> re.Pattern[str]:
    """Literal lower-case phrases (a tuple: parts that occur in that order, as Sisimai's
    "aligned" pairs), compiled as one trie-shaped pattern: long literal lists stay fast."""
    literals = sorted({i for i in items if isinstance(i, str)})
    ordered = [
        ".{0,160}?".join(re.escape(part) for part in i) for i in items if isinstance(i, tuple)
    ]
    return re.compile("|".join(x for x in (_trie(literals), *ordered) if x))


def _trie(words: list[str]) -> str:
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_pattern(root) if root else ""


def _trie_pattern(node: dict[str, Any]) -> str:
    ends = "" in node
    branches = [re.escape(c) + _trie_pattern(child) for c, child in sorted(node.items()) if c]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


# Sisimai's phrase lists, by the reason they name (matched against lower-cased text whose
# runs of white space are single spaces). A few entries that name another reason as well
# are left out where noted.
_SISIMAI_USER_UNKNOWN = _phrases(
    "#5.1.1 bad address",
    "550 address invalid",
    "5.1.0 address rejected.",
    "address does not exist",
    "address not present in directory",
    "address unknown",
    "can't accept user",
    "destination addresses were unknown",
    "destination server rejected recipients",
    "email address does not exist",
    "email address could not be found",
    "invalid address",
    "invalid mailbox",
    "invalid recipient",
    "is not a known user",
    "is not a valid mailbox",
    "is not an active address at this host",
    "mailbox does not exist",
    "mailbox invalid",
    "mailbox is inactive",
    "mailbox is unavailable",
    "mailbox not present",
    "mailbox not found",
    "mailbox unavaiable",
    "nessun utente simile in questo indirizzo",
    "no account by that name here",
    "no existe dicha persona",
    "no existe ese usuario ",
    "no mail box available for this user",
    "no mailbox by that name is currently available",
    "no mailbox found",
    "no such address here",
    "no such mailbox",
    "no such person at this address",
    "no such recipient",
    "no such user",
    "no thank you rejected: account unavailable",
    "no valid recipients, bye",
    "not a valid recipient",
    "not a valid user here",
    "not a local address",
    "recipient address rejected: access denied",
    "recipient address rejected: invalid user",
    "recipient address rejected: invalid-recipient",
    "recipient address rejected: unknown user",
    "recipient address rejected: userunknown",
    "recipient does not exist",
    "recipient is not accepted",
    "recipient is not local",
    "recipient not exist",
    "recipient not found",
    "recipient not ok",
    "recipient unknown",
    "requested action not taken: mailbox unavailable",
    "resolver.adr.recipient notfound",
    "sorry, user unknown",
    "sorry, badrcptto",
    "sorry, no mailbox here by that name",
    "sorry, your envelope recipient has been denied",
    "the email account that you tried to reach does not exist",
    "the following recipients was undeliverable",
    "the user's email name is not found",
    "there is no one at this address",
    "this email address is wrong or no longer valid",
    "this recipient is in my badrecipientto list",
    "this recipient is not in my validrcptto list",
    "this spectator does not exist",
    "unknown mailbox",
    "unknown recipient",
    "unknown user",
    "user does not exist",
    "user missing home directory",
    "user not active",
    "user not exist",
    "user not found",
    "user not known",
    "user unknown",
    "utilisateur inconnu !",
    "vdeliver: invalid or unknown virtual user",
    "your envelope recipient is in my badrcptto list",
    "invalid final delivery userid",  # IMail, SMTP32 (Sisimai's Lhost/IMailServer)
    ("account ", " does not exist at the organization"),
    ("mailbox ", "does not exist"),
    ("no ", " in name directory"),
    ("non", "existent user"),
    ("rcpt <", " does not exist"),
    ("recipient ", " was not found in"),
    ("recipient address rejected: user ", " does not exist"),
    ("recipient address rejected: user unknown in ", " table"),
    ("this user doesn't have a ", " account"),
    ("unknown e", "mail address"),
    ("unknown local", "part"),
    ("user ", " was not found"),
    ("user ", " does not exist"),
)
# HostUnknown and NotAccept (a domain that takes no mail at all: null MX and the like).
_SISIMAI_HOST_UNKNOWN = _phrases(
    "domain does not exist",
    "domain is not reachable",
    "domain must exist",
    "host or domain name not found",
    "host unknown",
    "host unreachable",
    "mail domain mentioned in email address is unknown",
    "name or service not known",
    "no such domain",
    "recipient address rejected: unknown domain name",
    "recipient domain must exist",
    "the account or domain may not exist",
    "unknown host",
    "unroutable address",
    "unrouteable address",
    ("553 ", " does not exist"),
    "does not accept mail (nullmx)",
    "host/domain does not accept mail",
    "host does not accept mail",
    "mail receiving disabled",
    "name server: .: host not found",
    "no mx record found for domain=",
    "no route for current request",
    "smtp protocol returned a permanent error",
)
_SISIMAI_HAS_MOVED = _phrases(" has been replaced by ")
_SISIMAI_MAILBOX_FULL = _phrases(
    "452 insufficient disk space",
    "account disabled temporarly for exceeding receiving limits",
    "account is exceeding their quota",
    "account is over quota",
    "account is temporarily over quota",
    "boite du destinataire pleine",
    "delivery failed: over quota",
    "disc quota exceeded",
    "diskspace quota",
    "does not have enough space",
    "exceeded storage allocation",
    "exceeding its mailbox quota",
    "full mailbox",
    "is over disk quota",
    "is over quota temporarily",
    "mail file size exceeds the maximum size allowed for mail delivery",
    "mail quota exceeded",
    "mailbox exceeded the local limit",
    "mailbox full",
    "mailbox has exceeded its disk space limit",
    "mailbox is full",
    "mailbox over quota",
    "mailbox quota usage exceeded",
    "mailbox size limit exceeded",
    "maildir over quota",
    "maildir delivery failed: userdisk quota ",
    "maildir delivery failed: domaindisk quota ",
    "mailfolder is full",
    "no space left on device",
    "not enough storage space in",
    "not sufficient disk space",
    "over the allowed quota",
    "quota exceeded",
    "quota violation for",
    "recipient reached disk quota",
    "recipient rejected: mailbox would exceed maximum allowed storage",
    "the recipient mailbox has exceeded its disk space limit",
    "the user's space has been used up",
    "the user you are trying to reach is over quota",
    "too much mail data",
    "user has exceeded quota, bouncing mail",
    "user has too many messages on the server",
    "user is over quota",
    "user is over the quota",
    "user over quota",
    "was automatically rejected: quota exceeded",
    "would be over the allowed quota",
    "user mailbox exceeds allowed size",  # IMail
)
_SISIMAI_SUSPEND = _phrases(
    " is currently suspended",
    " temporary locked",
    "archived recipient",
    "boite du destinataire archivee",
    "email account that you tried to reach is disabled",
    "has been suspended",
    "inactive account",
    "invalid/inactive user",
    "is a deactivated mailbox",
    "is unavailable: user is terminated",
    "mailbox currently suspended",
    "mailbox disabled",
    "mailbox is frozen",
    "mailbox unavailable or access denied",
    "recipient rejected: temporarily inactive",
    "recipient suspend the service",
    "this account has been disabled or discontinued",
    "this account has been temporarily suspended",
    "this address no longer accepts mail",
    "this mailbox is disabled",
    "user or domain is disabled",
    "user suspended",
    "vdelivermail: account is locked email bounced",
)
# MesgTooBig and ExceedLimit.
_SISIMAI_TOO_LARGE = _phrases(
    "exceeded maximum inbound message size",
    "line limit exceeded",
    "max message size exceeded",
    "message file too big",
    "message length exceeds administrative limit",
    "message size exceeds fixed limit",
    "message size exceeds fixed maximum message size",
    "message size exceeds maximum value",
    "message too big",
    "message too large for this ",
    "size limit",
    "taille limite du message atteinte",
    "message header size exceeds limit",
    "message too large",
)
# SpamDetected and VirusDetected.
_SISIMAI_SPAM = _phrases(
    " - spam",
    "//www.spamhaus.org/help/help_spam_16.htm",
    "//dsbl.org/help/help_spam_16.htm",
    "//mail.163.com/help/help_spam_16.htm",
    "554 5.7.0 reject, id=",
    "appears to be unsolicited",
    "blacklisted url in message",
    "block for spam",
    "blocked by policy: no spam please",
    "blocked by spamassassin",
    "blocked for abuse. see http://att.net/blocks",
    "cannot be forwarded because it was detected as spam",
    "considered unsolicited bulk e-mail (spam) by our mail filters",
    "content filter rejection",
    "cyberoam anti spam engine has identified this email as a bulk email",
    "denied due to spam list",
    "high probability of spam",
    "is classified as spam and is rejected",
    "listed in work.drbl.imedia.ru",
    "the mail server detected your message as spam and has prevented delivery.",
    "mail appears to be unsolicited",
    "mail content denied",
    "may consider spam",
    "message considered as spam or virus",
    "message contains spam or virus",
    "message content rejected",
    "message detected as spam",
    "message filtered",
    "message looks like spam",
    "message is being rejected as it seems to be a spam",
    "message refused by mailmarshal spamprofiler",
    "message refused by trustwave seg spamprofiler",
    "message rejected as spam",
    "message rejected because of unacceptable content",
    "message rejected due to suspected spam content",
    "message rejected for policy reasons",
    "message was rejected for possible spam/virus content",
    "our email server thinks this email is spam",
    "our system has detected that this message is ",
    "probable spam",
    "reject bulk.advertising",
    "rejected: spamassassin score ",
    "rejected - bulk email",
    "rejecting banned content",
    "rejecting mail content",
    "related to content with spam-like characteristics",
    "sender domain listed at ",
    "sending address not accepted due to spam filter",
    "spam blocked",
    "spam check",
    "spam content matched",
    "spam detected",
    "spam email",
    "spam not accepted",
    "spam refused",
    "spam rejection",
    "spam score ",
    "spambouncer identified spam",
    "spamming not allowed",
    "too many spam complaints",
    "too much spam.",
    "the email message was detected as spam",
    "the message has been rejected by spam filtering engine",
    "the message was rejected due to classification as bulk mail",
    "the content of this message looked like spam",
    "this message appears to be spam",
    "this message has been identified as spam",
    "this message has been scored as spam with a probability",
    "this message was classified as spam",
    "this message was rejected by recurrent pattern detection system",
    "transaction failed spam message not queued",
    "we dont accept spam",
    "your email appears similar to spam we have received before",
    "your email breaches local uribl policy",
    "your email had spam-like ",
    "your email is considered spam",
    "your email is probably spam",
    "your email was detected as spam",
    "your message as spam and has prevented delivery",
    "your message has been temporarily blocked by our filter",
    "your message has been rejected because it appears to be spam",
    "your message has triggered a spam block",
    "your message may contain the spam contents",
    "your message failed several antispam checks",
    ("greylisted", " please try again in"),
    ("our filters rate at and above ", " percent probability of being spam"),
    ("rejected by ", " (spam)"),
    ("rejected due to spam ", "classification"),
    ("rejected due to spam ", "content"),
    ("rule imposed as ", " is blacklisted on"),
    ("spam ", " exceeded"),
    ("this message scored ", " spam points"),
    "it has a potentially executable attachment",
    "the message was rejected because it contains prohibited virus or spam content",
    "this form of attachment has been used by recent viruses or other malware",
    "virus detected",
    "virus phishing/malicious_url detected",
    "your message was infected with a virus",
)
# Refusals of the sender, its host or its manners, not of the recipient: NoRelaying,
# Rejected (without its "address rejected", which Sisimai itself sets aside for recipients),
# Blocked (without "domain does not exist:", a HostUnknown phrase too), BadReputation,
# RequirePTR, AuthFailure, TooManyConn, Speeding, PolicyViolation.
_SISIMAI_BLOCKED = _phrases(
    "as a relay",
    "email address is not verified.",
    "insecure mail relay",
    "is not permitted to relay through this server without authentication",
    "mail server requires authentication when attempting to send to a non-local e-mail address",
    "no relaying",
    "not a gateway",
    "not allowed to relay through this machine",
    "not an open relay, so get lost",
    "not local host",
    "relay access denied",
    "relay denied",
    "relay not permitted",
    "relaying denied",
    "relaying mail to ",
    "specified domain is not allowed",
    "that domain isn't in my list of allowed rcpthost",
    "this system is not configured to relay mail",
    "unable to relay for",
    "we don't handle mail for",
    "access denied (in reply to mail from command)",
    "access denied (sender blacklisted)",
    "administrative prohibition",
    "batv failed to verify",
    "batv validation failure",
    "backscatter protection detected an invalid or expired email address",
    "because the sender isn't on the recipient's list of senders to accept mail from",
    "bogus mail from",
    "can't determine purported responsible address",
    "connections not accepted from servers without a valid sender domain",
    "denied [bouncedeny]",
    "denied by secumail valid-address-filter",
    "delivery not authorized, message refused",
    "domain of sender address ",
    "email address is on senderfilterconfig list",
    "emetteur invalide",
    "empty envelope senders not allowed",
    "envelope blocked - ",
    "error: no third-party dsns",
    "from: domain is invalid. please provide a valid from:",
    "fully qualified email address required",
    "invalid domain, see <url:",
    "invalid sender",
    "is not a registered gateway user",
    "mail from not owned by user",
    "null sender is not allowed",
    "recipient not accepted. (batv: no tag",
    "rule imposed mailbox access for",
    "sending this from a different address or alias using the ",
    "sender address has been blacklisted",
    "sender email address rejected",
    "sender is in my black list",
    "sender is spammer",
    "sender not pre-approved",
    "sender rejected",
    "sender domain is empty",
    "sender verify failed",
    "sender was rejected",
    "syntax error: empty email address",
    "the message has been rejected by batv defense",
    "this server does not accept mail from",
    "transaction failed unsigned dsn for",
    "unroutable sender address",
    "you are not allowed to post to this mailing list",
    "you are sending to/from an address that has been blacklisted",
    "your access to submit messages to this e-mail system has been rejected",
    "your email address has been blacklisted",
    " said: 550 blocked",
    "//www.spamcop.net/bl.",
    "bad sender ip address",
    "banned sending ip",
    "blacklisted by",
    "blocked using ",
    "blocked - see http",
    "dnsbl:attrbl",
    "client host rejected: may not be mail exchanger",
    "client host rejected: was not authenticated",
    "confirm this mail server",
    "connection dropped",
    "connection refused by",
    "connection reset by peer",
    "connection was dropped by remote host",
    "connections not accepted from ip addresses on spamhaus xbl",
    "currently sending spam see: ",
    "dynamic/zombied/spam ips blocked",
    "error: no valid recipients from ",
    "esmtp not accepting connections",
    "extreme bad ip profile",
    "go away",
    "helo command rejected:",
    "host network not allowed",
    "hosts with dynamic ip",
    "invalid ip for sending mail of domain",
    "is in a black list",
    "is not allowed to send mail from",
    "no access from mail server",
    "no matches to nameserver query",
    "not currently accepting mail from your ip",
    "part of their network is on our block list",
    "please use the smtp server of your isp",
    "refused - see http",
    "rejected - multi-blacklist",
    "rejected because the sending mta or the sender has not passed validation",
    "rejecting open proxy",
    "sender ip address rejected",
    "server access forbidden by your ip ",
    "service not available, closing transmission channel",
    "smtp error from remote mail server after initial connection:",
    "sorry, that domain isn't in my list of allowed rcpthosts",
    "sorry, your remotehost looks suspiciously like spammer",
    "temporarily deferred due to unexpected volume or user complaints",
    "to submit messages to this e-mail system has been rejected",
    "too many spams from your ip",
    "too many unwanted messages have been sent from the following ip address above",
    "was blocked by ",
    "we do not accept mail from dynamic ips",
    "you are not allowed to connect",
    "you are sending spam",
    "your ip address is listed in the rbl",
    "your network is temporary blacklisted",
    "your server requires confirmation",
    ("(", "@", ":blocked)"),
    ("access from ip address ", " blocked"),
    ("client host ", " blocked using"),
    ("connections will not be accepted from ", " because the ip is in spamhaus's list"),
    ("dnsbl:rbl ", ">_is_blocked"),
    ("email blocked by ", ".barracudacentral.org"),
    ("email blocked by ", "spamhaus"),
    ("host ", " refused to talk to me: ", " blocked"),
    ("ip ", " is blocked by earthlink"),
    ("is in an ", "rbl on "),
    ("mail server at ", " is blocked"),
    ("mail from ", " refused:"),
    ("message from ", " rejected based on blacklist"),
    ("messages from ", " temporarily deferred due to user complaints"),
    ("server ip ", " listed as abusive"),
    ("sorry! your ip address", " is blocked by rbl"),
    ("the domain ", " is blacklisted"),
    ("the email ", " is blacklisted"),
    ("the ip", " is blacklisted"),
    ("your sender's ip address is listed at ", ".abuseat.org"),
    "a poor email reputation score",
    "has been temporarily rate limited due to ip reputation",
    "ip/domain reputation problems",
    "likely suspicious due to the very low reputation",
    "none/bad reputation",
    "the sending mta's poor reputation",
    "access denied. ip name lookup failed",
    "all mail servers must have a ptr record with a valid reverse dns entry",
    "bad dns ptr resource record",
    "cannot find your hostname",
    "fix reverse dns for ",
    "ips with missing ptr records",
    "no ptr record found.",
    "please get a custom reverse dns name from your isp for your host",
    "ptr record setup",
    "reverse dns failed",
    "reverse dns required",
    "sender ip reverse lookup rejected",
    "the ip address sending this message does not have a ptr record setup",
    "the corresponding forward dns entry does not point to the sending ip",
    "this system will not accept messages from servers/devices with no reverse dns",
    "unresolvable relay host name",
    "we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
    ("domain ", " mismatches client ip"),
    ("dns lookup failure: ", " try again later"),
    ("reverse dns lookup for host ", " failed permanently"),
    ("server access ", " forbidden by invalid rdns record of your mail server"),
    ("service permits ", " unverifyable sending ips"),
    "//spf.pobox.com",
    "bad spf records for",
    "dmarc policy",
    "please inspect your spf settings",
    "sender policy framework (spf) fail",
    "sender policy framework violation",
    "spf (sender policy framework) domain authentication fail",
    "spf check: fail",
    ("is not allowed to send from <", " per it's spf record"),
    "all available ips are at maximum connection limit",
    "connection rate limit exceeded",
    "exceeds per-domain connection limit for",
    "has exceeded the max emails per hour ",
    "throttling failure: daily message quota exceeded",
    "throttling failure: maximum sending rate exceeded",
    "too many connections",
    "too many concurrent smtp connections",
    "too many errors from your ip",
    "too many recipients",
    "too many smtp sessions for this host",
    "trop de connexions, ",
    "we have already made numerous attempts to deliver this message",
    "mail sent from your ip address has been temporarily rate limited",
    "please try again slower",
    "receiving mail at a rate that prevents additional messages from being delivered",
    "an illegal attachment on your message",
    "because the recipient is not accepting mail with ",
    "by non-member to a members-only list",
    "closed mailing list",
    "denied by policy",
    "email not accepted for policy reasons",
    "email rejected due to security policies",
    "header are not accepted",
    "local policy violation",
    "message bounced due to organizational settings",
    "message given low priority",
    "message not accepted for policy reasons",
    "message rejected due to local policy",
    "messages with multiple addresses",
    "rejected for policy reasons",
    "protocol violation",
    "the email address used to send your message is not subscribed to this group",
    "the message was rejected by organization policy",
    "this message was blocked because its content presents a potential",
    "we do not accept messages containing images or other attachments",
    "you're using a mass mailer",
)
# Filtered: the recipient exists but its own rules refuse the message (without "user not
# found", which Sisimai lists for one provider and under UserUnknown too).
_SISIMAI_FILTERED = _phrases(
    "because the recipient is only accepting mail from specific email addresses",
    "bounced address",
    "due to extended inactivity new mail is not currently being accepted for this mailbox",
    "has restricted sms e-mail",
    "is not accepting any mail",
    "message rejected due to user rules",
    "refused due to recipient preferences",
    "resolver.rst.notauthorized",
    "this account is protected by",
    "user refuses to receive this mail",
    "user reject",
    "you have been blocked by the recipient",
)
_SISIMAI_EXPIRED = _phrases(
    "could not find a gateway for",
    "delivery attempts will continue to be",
    "delivery expired",
    "delivery time expired",
    "failed to deliver to domain ",
    "giving up on",
    "have been failing for a long time",
    "has been delayed",
    "it has not been collected after",
    "message expired after sitting in queue for",
    "message expired, cannot connect to remote server",
    "message expired, connection refulsed",
    "message timed out",
    "retry time not reached for any host after a long failure period",
    "server did not respond",
    "this message has been in the queue too long",
    "unable to deliver message after multiple retries",
    "was not reachable within the allowed queue period",
    "your message could not be delivered for more than",
    ("could not be delivered for", " days"),
)
# NetworkError.
_SISIMAI_NETWORK = _phrases(
    "could not connect and send the mail to",
    "dns records for the destination computer could not be found",
    "host is unreachable",
    "host name lookup failure",
    "host not found, try again",
    "malformed name server reply",
    "malformed or unexpected name server reply",
    "no route to host",
    "unable to resolve route ",
    "unrouteable mail domain",
)
# SystemError, SystemFull, MailerError, ContentError, SecurityError and mail loops.
_SISIMAI_SYSTEM = _phrases(
    "aliasing/forwarding loop broken",
    "can't create user output file",
    "could not load drd for domain",
    "internal error reading data",
    "internal server error: operation now in progress",
    "interrupted system call",
    "it encountered an error while being processed",
    "it would create a mail loop",
    "local configuration error",
    "local error in processing",
    "loop was found in the mail exchanger",
    "loops back to myself",
    "mail system configuration error",
    "queue file write error",
    "recipient deferred because there is no mdb",
    "remote server is misconfigured",
    "server configuration error",
    "service currently unavailable",
    "system config error",
    "temporary local problem",
    "timeout waiting for input",
    "hop count exceeded - possible mail loop",
    "mail forwarding loop for ",
    "maximum forwarding loop count exceeded",
    "message looping",
    "message probably in a routing loop",
    "too many hops",
    "mail system full",
    " || exit ",
    "procmail: ",
    "bin/procmail",
    "bin/maidrop",
    "command failed: ",
    "command died with status ",
    "command output:",
    "mailer error",
    "pipe to |/",
    "x-unix; ",
    "duplicate header",
    "header size exceeds maximum permitted",
    "improper use of 8-bit data in message header",
    "message header size, or recipient list, exceeds policy limit",
    "message mime complexity exceeds the policy maximum",
    "routing loop detected -- too many received: headers",
    "this message contain invalid mime headers",
    "this message contain improperly-formatted binary content",
    "this message contain text that uses unnecessary base64 encoding",
    "this message is not rfc 5322 compliant",
    "account not subscribed to ses",
    "authentication credentials invalid",
    "authentication required",
    "authentication turned on in your email client",
    "executable files are not allowed in compressed files",
    "starttls is required to send mail",
    "tls required but not supported",
    "unauthenticated senders not allowed",
    "you are not authorized to send mail, authentication is required",
    ("authentication failed; server ", " said: "),
    ("user ", " is not authorized to perform ses:sendrawemail on resource"),
)


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
    (R.MAILBOX_FULL, _SISIMAI_MAILBOX_FULL),
    (R.DISABLED, _SISIMAI_SUSPEND),
    (R.SPAM, _SISIMAI_SPAM),
    (R.TOO_LARGE, _SISIMAI_TOO_LARGE),
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
    (R.BLOCKED, _SISIMAI_BLOCKED),
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
            r"unknown address",
        ),
    ),
    (R.DOMAIN_NOT_FOUND, _SISIMAI_HOST_UNKNOWN),
    (R.USER_UNKNOWN, _SISIMAI_USER_UNKNOWN),
]

# Soft reasons whose words are common enough to lose to a hard bounce's words.
_LATER: list[tuple[R, re.Pattern[str]]] = [
    (R.REJECTED, _SISIMAI_FILTERED),
    (R.EXPIRED, _SISIMAI_EXPIRED),
    (R.NETWORK, _SISIMAI_NETWORK),
    (R.SYSTEM, _SISIMAI_SYSTEM),
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
    # The rest of Sisimai's table of RFC 3463 codes.
    "5.1.4": Verdict(R.REJECTED, False),
    "5.1.9": Verdict(R.SYSTEM, False),
    "5.2.4": Verdict(R.REJECTED, False),
    "5.3.1": Verdict(R.SYSTEM, False),
    "5.3.2": Verdict(R.DOMAIN_NOT_FOUND, True),  # system not accepting network messages
    "5.3.3": Verdict(R.SYSTEM, False),
    "5.4.0": Verdict(R.NETWORK, False),
    "5.4.3": Verdict(R.SYSTEM, False),
    "5.5.3": Verdict(R.BLOCKED, False),  # too many recipients
    "5.7.13": Verdict(R.DISABLED, False),  # user account disabled
    "5.7.17": Verdict(R.USER_UNKNOWN, True),  # mailbox owner has changed
    "5.7.18": Verdict(R.USER_UNKNOWN, True),  # domain owner has changed
    "5.7.20": Verdict(R.BLOCKED, False),
    "5.7.21": Verdict(R.BLOCKED, False),
    "5.7.22": Verdict(R.BLOCKED, False),
    "5.7.23": Verdict(R.BLOCKED, False),
    "5.7.24": Verdict(R.BLOCKED, False),
    "5.7.25": Verdict(R.BLOCKED, False),  # reverse DNS validation failed
    "5.7.28": Verdict(R.SPAM, False),  # mail flood
    "5.7.29": Verdict(R.BLOCKED, False),
}


def verdict(text: str, status: str | None, code: int | None) -> Verdict:
    """The reason and hardness of one recipient's failure."""
    temporary = (status or "").startswith("4") or (code is not None and 400 <= code < 500)
    sample = " ".join(text[:2000].lower().split())
    if sample:
        if _DIRECTORY_REJECT.search(sample):
            return Verdict(R.USER_UNKNOWN, True)
        if _SISIMAI_HAS_MOVED.search(sample):
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
