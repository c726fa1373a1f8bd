"""The pages that change a subscription: signup with double opt-in, confirm, one-click
unsubscribe (RFC 8058) and preferences. Every change is behind a signed token or the signup
form; a GET never changes anything, because link scanners and previewers follow GET links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from digest.db.engine import Database
from digest.errors import SubscriberError
from digest.send.wiring import Relay
from digest.settings import Settings
from digest.web import guard
from digest.web.archive import sent_issues
from digest.web.mail import ConfirmationMail, queue_confirmation
from digest.web.pages import SECTION_LABELS, Button, Link, Pages
from subscribers import web_actions as actions
from subscribers.addresses import clean_name, normalize_address
from subscribers.tokens import (
    CONFIRM,
    PREFERENCES,
    UNSUBSCRIBE,
    ExpiredLink,
    InvalidLink,
    LinkTarget,
    TimedTokenSigner,
    TokenSigner,
)

# Pages whose form posts back to us: under "no-referrer" a browser sends `Origin: null` with
# the post, which the same-origin check must refuse; "same-origin" sends our own origin to
# us and still nothing to any other site.
FORM_HEADERS = {"Referrer-Policy": "same-origin"}
MAX_TOKEN = 300


class SubscriptionPages:
    """The handlers; built once per app with everything they need passed in."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime],
        pages: Pages,
        relay: Relay,
        wake_sender: Callable[[], None] = lambda: None,
    ) -> None:
        self.db, self.settings, self.clock, self.pages = db, settings, clock, pages
        self.relay, self.wake_sender = relay, wake_sender
        self.base = settings.newsletter.base_url.rstrip("/")
        keys = settings.signing_keys
        max_age = timedelta(hours=settings.web.confirm_max_age_hours)
        self.confirm_signer = TimedTokenSigner(keys, CONFIRM, clock, max_age)
        self.unsubscribe_signer = TokenSigner(keys, UNSUBSCRIBE)
        self.preferences_signer = TokenSigner(keys, PREFERENCES)
        self.limiter = guard.RateLimiter(settings.web.signup_per_hour, timedelta(hours=1), clock)
        # An organisation's own website may carry the signup form too.
        # Our own origin comes from base_url, never from the Host header a client sends.
        self.own_origins = (guard.origin_of(settings.newsletter.base_url),)
        self.signup_origins = (
            *self.own_origins,
            guard.origin_of(settings.newsletter.website_url),
        )

    # Signup -------------------------------------------------------------------------------

    async def signup_form(self, request: Request) -> Response:
        issues = await run_in_threadpool(sent_issues, self.db)
        return self._form(latest=issues[0] if issues else None, noindex=False)

    def _form(self, *, status: int = 200, error: str = "", **values: object) -> Response:
        context: dict[str, object] = {
            "email": "",
            "name": "",
            "chosen": actions.SECTIONS,
            "latest": None,
            **values,
        }
        return self.pages.render(
            "signup.html.j2",
            f"Subscribe to {self.settings.newsletter.name}",
            status=status,
            headers=FORM_HEADERS,
            error=error,
            sections=SECTION_LABELS,
            **context,
        )

    async def signup(self, request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.hit(guard.client_key(client))
        if wait is not None:
            seconds = max(1, int(wait.total_seconds()))
            raise HTTPException(429, headers={"Retry-After": str(seconds)})
        if not guard.same_origin(request, self.signup_origins):
            raise HTTPException(403)
        form = await guard.read_form(request)
        if guard.first(form, "website"):
            return self._check_inbox()  # a robot filled in the hidden field
        raw = guard.first(form, "email", 400)
        # The name goes into To: and the greeting of a mail to someone else's address.
        name = clean_name(guard.first(form, "name"))[: self.settings.web.max_name_chars]
        chosen = [s for s in form.get("section", []) if s in actions.SECTIONS]
        try:
            email = normalize_address(raw)
        except SubscriberError:
            error = "Please enter a valid email address, like name@example.org."
            return self._form(status=400, error=error, email=raw, name=name, chosen=chosen)
        now = self.clock()
        result = await run_in_threadpool(
            actions.signup,
            self.db,
            self.settings.signing_keys,
            email,
            now,
            name=name,
            sections=chosen or actions.SECTIONS,
            source=f"web signup from {client}",
        )
        if not result.sends_mail:
            return self._check_inbox()
        response = self._check_inbox()
        response.background = self._mail_for(result, now)
        return response

    def _mail_for(self, result: actions.Signup, now: datetime) -> BackgroundTask:
        """The mail a signup answers with (a confirm link, or a notice to someone subscribed
        already), queued after the answer, so how long the page takes says nothing about the
        address; the sender (never this request) talks to the relay."""
        if result.kind is actions.SignupKind.ACTIVE:
            token = self.preferences_signer.sign(result.subscriber_id, result.link_key)
            url = self._url("preferences", token)
        else:
            token = self.confirm_signer.sign(result.subscriber_id, result.link_key, result.stamp)
            url = self._url("confirm", token)
        mail = ConfirmationMail(
            email=result.email,
            name=result.name,
            action_url=url,
            already=result.kind is actions.SignupKind.ACTIVE,
        )
        return BackgroundTask(self._queue, mail, now, result.subscriber_id)

    async def _queue(self, mail: ConfirmationMail, now: datetime, subscriber_id: int) -> None:
        envelope_from = self.relay.envelope_from
        args = (self.db, mail, self.settings, now, envelope_from, subscriber_id)
        if await run_in_threadpool(queue_confirmation, *args):
            self.wake_sender()

    def _check_inbox(self) -> Response:
        # The same page whatever the address's state: the form never tells who subscribed.
        return self.pages.message(
            "Check your inbox",
            "We have sent a mail to the address you gave. Click the link in it to confirm "
            "your subscription.",
            f"The link works for {self.settings.web.confirm_max_age_hours} hours. No mail? "
            "Look in your spam folder, or sign up again.",
            link=Link("/archive", "Read past issues"),
        )

    # Confirm ------------------------------------------------------------------------------

    def _confirm_token(self, token: str) -> tuple[LinkTarget, str] | Response:
        try:
            return self.confirm_signer.verify(token[:MAX_TOKEN])
        except ExpiredLink:
            return self.pages.message(
                "This link has expired",
                f"Confirmation links work for {self.settings.web.confirm_max_age_hours} hours. "
                "Nothing was changed; sign up again to get a new one.",
                status=410,
                link=Link("/", "Sign up again"),
            )
        except InvalidLink:
            return self._invalid_link()

    async def confirm_page(self, request: Request) -> Response:
        checked = self._confirm_token(request.path_params["token"])
        if isinstance(checked, Response):
            return checked
        state = await run_in_threadpool(actions.check_confirm, self.db, *checked)
        if state is not actions.ConfirmResult.READY:
            return self._confirmed(state, checked[0])
        return self.pages.message(
            "Confirm your subscription",
            f"One more click and you will receive {self.settings.newsletter.name}.",
            button=Button(request.url.path, "Yes, subscribe me"),
            headers=FORM_HEADERS,
        )

    async def confirm(self, request: Request) -> Response:
        if not guard.same_origin(request, self.own_origins):
            raise HTTPException(403)
        checked = self._confirm_token(request.path_params["token"])
        if isinstance(checked, Response):
            return checked
        client = request.client.host if request.client else "unknown"
        state = await run_in_threadpool(
            actions.confirm, self.db, *checked, self.clock(), source=f"confirm link from {client}"
        )
        return self._confirmed(state, checked[0])

    def _confirmed(self, state: actions.ConfirmResult, target: LinkTarget) -> Response:
        preferences = Link(self._preferences_path(target), "Choose what you get")
        if state is actions.ConfirmResult.CONFIRMED:
            return self.pages.message(
                "You are subscribed",
                f"Thank you. {self.settings.newsletter.name} arrives with the next issue.",
                link=preferences,
            )
        if state is actions.ConfirmResult.ALREADY:
            return self.pages.message(
                "Already confirmed",
                "This subscription is confirmed already; nothing was changed.",
                link=preferences,
            )
        return self.pages.message(
            "This link no longer works",
            "The subscription changed since this link was sent, so nothing was changed. "
            "Sign up again if you want the newsletter.",
            status=410,
            link=Link("/", "Sign up"),
        )

    # Unsubscribe ----------------------------------------------------------------------------

    def _subscriber(self, signer: TokenSigner, token: str) -> LinkTarget | None:
        try:
            return signer.verify(token[:MAX_TOKEN])
        except InvalidLink:
            return None

    async def unsubscribe_page(self, request: Request) -> Response:
        """GET: only a button; a scanner that follows the link changes nothing."""
        if self._subscriber(self.unsubscribe_signer, request.path_params["token"]) is None:
            return self._invalid_link()
        return self.pages.message(
            "Unsubscribe",
            f"Do you want to stop receiving {self.settings.newsletter.name}?",
            button=Button(request.url.path, "Unsubscribe me"),
            headers=FORM_HEADERS,
        )

    async def unsubscribe(self, request: Request) -> Response:
        """POST (RFC 8058 one-click): no cookie, login or CSRF token, whatever the body."""
        target = self._subscriber(self.unsubscribe_signer, request.path_params["token"])
        if target is None:
            return self._invalid_link()
        known = await run_in_threadpool(actions.unsubscribe, self.db, target, self.clock())
        # A forgotten subscriber gets the same answer: they will get nothing, as asked.
        return self.pages.message(
            "You are unsubscribed",
            f"You will not receive {self.settings.newsletter.name} any more.",
            link=Link(self._preferences_path(target), "Changed your mind?") if known else None,
        )

    # Preferences ----------------------------------------------------------------------------

    async def preferences_page(self, request: Request) -> Response:
        target = self._subscriber(self.preferences_signer, request.path_params["token"])
        if target is None:
            return self._invalid_link()
        person = await run_in_threadpool(actions.preferences, self.db, target)
        return self._preferences(request, person)

    async def save_preferences(self, request: Request) -> Response:
        if not guard.same_origin(request, self.own_origins):
            raise HTTPException(403)
        target = self._subscriber(self.preferences_signer, request.path_params["token"])
        if target is None:
            return self._invalid_link()
        form = await guard.read_form(request)
        now = self.clock()
        if guard.first(form, "action") == "resubscribe":
            return await self._come_back(request, target, now)
        chosen = [s for s in form.get("section", []) if s in actions.SECTIONS]
        paused = bool(guard.first(form, "paused"))
        person = await run_in_threadpool(
            actions.save_preferences, self.db, target, chosen, paused, now
        )
        notice = (
            "Saved."
            if chosen or paused
            else "Saved. With no section chosen, you get no issues until you choose one."
        )
        return self._preferences(request, person, notice)

    async def _come_back(self, request: Request, target: LinkTarget, now: datetime) -> Response:
        """ "Subscribe me again": a link in a forwarded issue is not the person's consent, so
        nothing changes here; a confirmation goes to the address, as for a signup, and its
        link makes them active again."""
        client = request.client.host if request.client else "unknown"
        result = await run_in_threadpool(
            actions.come_back,
            self.db,
            self.settings.signing_keys,
            target,
            now,
            source=f"preferences page from {client}",
        )
        if result is None:
            return self._gone()
        person = await run_in_threadpool(actions.preferences, self.db, target)
        if result.kind is not actions.SignupKind.RETURNING:
            return self._preferences(request, person)
        response = self._preferences(
            request,
            person,
            f"We have sent a mail to {result.email}. Click the link in it to subscribe again "
            f"(it works for {self.settings.web.confirm_max_age_hours} hours).",
        )
        response.background = self._mail_for(result, now)
        return response

    def _preferences(
        self, request: Request, person: actions.Preferences | None, notice: str = ""
    ) -> Response:
        if person is None:
            return self._gone()
        return self.pages.render(
            "preferences.html.j2",
            "Your preferences",
            headers=FORM_HEADERS,
            person=person,
            notice=notice,
            sections=SECTION_LABELS,
            action=request.url.path,
            unsubscribe=f"/unsubscribe/{self._sign(self.unsubscribe_signer, person.target)}",
        )

    # Shared -------------------------------------------------------------------------------

    def token_help(self, request: Request) -> Response:
        """/unsubscribe and /preferences without a token: where the archive's links lead."""
        return self.pages.message(
            "Use the link in your email",
            "Every issue we send you has its own links to unsubscribe and to change your "
            "preferences, at the bottom of the message. Use those: they work with one click "
            "and without a password.",
            link=Link("/", "Subscribe"),
        )

    def _invalid_link(self) -> Response:
        return self.pages.message(
            "This link is not valid",
            "The link is incomplete or was changed, so nothing was changed. Copy the whole "
            "link from your email, or use the newest one you received.",
            status=400,
            link=Link("/", "Home"),
        )

    def _gone(self) -> Response:
        return self.pages.message(
            "No subscription here",
            "There is no subscription for this link any more; nothing was changed.",
            status=410,
            link=Link("/", "Subscribe"),
        )

    def _url(self, kind: str, token: str) -> str:
        return f"{self.base}/{kind}/{token}"

    def _preferences_path(self, target: LinkTarget) -> str:
        return f"/preferences/{self._sign(self.preferences_signer, target)}"

    @staticmethod
    def _sign(signer: TokenSigner, target: LinkTarget) -> str:
        return signer.sign(target.subscriber_id, target.link_key)
