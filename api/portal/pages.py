"""The portal's pages: server-rendered, no scripts, one small stylesheet.

A worker arrives with an access link, confirms on a page (so that a link preview does not
use the link up), and gets a session cookie that reaches only their own records. Every form
is a POST with a CSRF token; every action that changes something has a review step that
says what will happen. No worker data travels in a URL: pages name records only by their
random ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from apiflask import APIBlueprint
from flask import (
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_wtf.csrf import CSRFError, CSRFProtect

from api.access import peek, redeem
from api.deps import container
from api.deps import session as db
from api.errors import LINK_PROBLEMS
from api.portal import records, terms
from api.portal.i18n import LANGUAGES
from api.reports import send_issued
from api.throttle import TooManyAttempts
from ledger.access.apikeys import Principal
from ledger.access.links import LinkRefused
from ledger.consent.consents import Actor, ActorKind, consent_family, purposes_in_force
from ledger.errors import Conflict, NotFound, TryLater
from ledger.models import Consent, ConsentEvent, Tenant
from reports.worker import counts
from retention.requests import RequestIn, RequestScope

bp = APIBlueprint(  # an APIBlueprint only to be left out of the OpenAPI document
    "portal",
    __name__,
    url_prefix="/portal",
    template_folder="templates",
    static_folder="static",
    enable_openapi=False,
)
csrf = CSRFProtect()
PUBLIC = {
    "portal.enter",
    "portal.enter_confirmed",
    "portal.language",
    "portal.static",
    "portal.signed_out",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the entry page's address holds the link
    "X-Frame-Options": "DENY",
}


@bp.record_once
def _install(state: Any) -> None:
    state.app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # the API has no cookies
    csrf.init_app(state.app)
    state.app.jinja_env.filters.update(terms.FILTERS)
    state.app.jinja_env.globals.update(term=terms.term, LANGUAGES=LANGUAGES, get_locale=get_locale)


def page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(f"portal/{template}", **context), status)
    response.headers.update(HEADERS)
    return response


def worker() -> Principal:
    signed_in: Principal = g.worker
    return signed_in


def me() -> str:
    """The signed-in worker's pseudonym."""
    return worker().worker_id or ""


@bp.before_request
def _guard() -> Response | None:
    if request.method == "POST":
        csrf.protect()
    token = session.get("wt")
    found = container().access.authenticate(db(), token) if isinstance(token, str) else None
    if found is not None:
        g.worker = found
    elif request.endpoint not in PUBLIC:
        session.pop("wt", None)
        return page("problem.html", 401, problem="signed_out")
    return None


@bp.errorhandler(CSRFError)
def _csrf(_error: CSRFError) -> Response:
    return page("problem.html", 400, problem="form_expired")


@bp.errorhandler(NotFound)
def _not_found(_error: NotFound) -> Response:
    return page("problem.html", 404, problem="not_found")


@bp.errorhandler(TooManyAttempts)
@bp.errorhandler(TryLater)
def _wait(error: TooManyAttempts | TryLater) -> Response:
    status, problem = (429, "too_many") if isinstance(error, TooManyAttempts) else (503, "busy")
    response = page("problem.html", status, problem=problem, wait=error.retry_after)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


@bp.errorhandler(LinkRefused)
def _refused(error: LinkRefused) -> Response:
    return page("problem.html", LINK_PROBLEMS[error.reason][0], problem=error.reason)


@bp.get("/enter")
def enter() -> Response:
    """The link lands here: check it without using it, and ask to go on."""
    link = request.args.get("link", "")
    found = peek(link)
    if found.language and "lang" not in session:
        session["lang"] = found.language
    return page("enter.html", link=link)


@bp.post("/enter")
def enter_confirmed() -> Response:
    grant = redeem(request.form.get("link", ""))
    session.clear()  # a new session: nothing carried over from before the sign-in
    session.permanent = True
    session["wt"] = grant.token
    session["lang"] = request.form.get("lang") or grant.language or "en"
    return redirect(url_for("portal.home"), 303)  # type: ignore[return-value]


@bp.post("/language")
def language() -> Response:
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    back = request.form.get("next", "")
    target = urlsplit(back)
    if target.scheme or target.netloc or not target.path.startswith("/portal/"):
        back = url_for("portal.home")
    return redirect(back, 303)  # type: ignore[return-value]


@bp.post("/signout")
def signout() -> Response:
    container().access.end(worker().key_id)
    session.clear()
    return redirect(url_for("portal.signed_out"), 303)  # type: ignore[return-value]


@bp.get("/signed-out")
def signed_out() -> Response:
    return page("problem.html", 200, problem="goodbye")


@bp.get("/")
def home() -> Response:
    tenant = db().get(Tenant, worker().tenant_id)
    return page("home.html", counts=counts(db(), worker().tenant_id, me()), tenant=tenant)


def _consents() -> list[tuple[Consent, list[ConsentEvent]]]:
    return container().consents.of_worker(db(), me())


@bp.get("/consents")
def consents() -> Response:
    return page("consents.html", consents=_consents(), in_force=purposes_in_force)


def _own_consent(consent_id: str) -> Consent:
    consent = db().get(Consent, consent_id)
    if consent is None or consent.worker_id != me():
        raise NotFound("consent")
    return consent


@bp.get("/receipts/<receipt_id>.jws")
def receipt(receipt_id: str) -> Response:
    """A consent receipt (by the consent's id) or a withdrawal receipt (by its own id)."""
    signed: str | None
    if receipt_id.startswith("con_"):
        signed = _own_consent(receipt_id).receipt
    else:
        event = db().get(ConsentEvent, receipt_id)
        if event is None:
            raise NotFound("receipt")
        _own_consent(event.consent_id)
        signed = event.receipt
    if not signed:
        raise NotFound("receipt")
    return _download(signed.encode(), "application/jose", f"custody-receipt-{receipt_id}.jws")


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **HEADERS},
    )


@bp.route("/consents/<consent_id>/withdraw", methods=["GET", "POST"])
def withdraw(consent_id: str) -> Response:
    consent = _own_consent(consent_id)
    open_purposes = purposes_in_force(consent)
    if not open_purposes:
        flash(gettext("Nothing of this agreement is in force any more."))
        return redirect(url_for("portal.consents"), 303)  # type: ignore[return-value]
    chosen = [p for p in request.form.getlist("purposes") if p in open_purposes]
    step = request.form.get("step")
    if request.method == "GET" or not chosen:
        error = gettext("Choose at least one purpose.") if request.method == "POST" else None
        return page(
            "withdraw.html",
            400 if error else 200,
            consent=consent,
            purposes=open_purposes,
            error=error,
        )
    everything = set(chosen) == set(open_purposes)
    if step != "confirm":
        return page("withdraw_review.html", consent=consent, chosen=chosen, everything=everything)
    try:
        withdrawal = container().consents.withdraw(
            worker().tenant_id,
            consent.id,
            sorted(chosen) if not everything else None,
            Actor(ActorKind.WORKER, me()),
        )
    except Conflict:  # withdrawn meanwhile, in another tab or by the platform
        flash(gettext("This was already withdrawn."))
    else:
        flash(
            gettext(
                "Done: your consent was withdrawn. The platform can no longer use your recordings for that."
            )
        )
        flash(withdrawal.event.id, "receipt")
    return redirect(url_for("portal.consents"), 303)  # type: ignore[return-value]


@bp.get("/recordings")
def recordings() -> Response:
    number = request.args.get("page", "1")
    index = int(number) - 1 if number.isdigit() and 0 < int(number) < 100_000 else 0
    shown, more = records.recordings(db(), me(), index)
    return page("recordings.html", recordings=shown, page=index + 1, more=more)


@dataclass(frozen=True)
class _Scope:
    scope: RequestScope
    consent: str | None
    item: str | None
    clips: list[str]


def _scope() -> _Scope:
    """What the erasure form asks for, checked to be the worker's own."""
    mine, scope = me(), request.form.get("scope", "")
    if scope == RequestScope.ALL:
        return _Scope(RequestScope.ALL, None, None, records.clips_of(db(), mine, None))
    if scope == RequestScope.CONSENT:
        consent = _own_consent(request.form.get("consent", ""))
        family = consent_family(db(), mine, consent.id)
        clips = records.clips_of(db(), mine, family)
        return _Scope(RequestScope.CONSENT, consent.id, None, clips)
    if scope == RequestScope.ITEM:
        clip = records.recording(db(), mine, request.form.get("item", ""))
        if clip is None:
            raise NotFound("recording")
        return _Scope(RequestScope.ITEM, None, clip.id, [clip.id])
    raise NotFound("scope")


@bp.get("/erasure")
def erasure() -> Response:
    return page(
        "erasure.html",
        consents=_consents(),
        requests=records.requests(db(), me()),
        others=records.other_erasures(db(), me()),
        now=container().clock.now(),
    )


@bp.post("/erasure")
def erasure_request() -> Response:
    asked = _scope()
    if request.form.get("step") != "confirm":
        clips, derived = records.in_scope(db(), asked.clips)
        deadline = container().clock.now() + container().erasure_requests.deadline
        return page(
            "erasure_review.html", asked=asked, clips=clips, derived=derived, deadline=deadline
        )
    container().erasure_requests.request(
        worker().tenant_id,
        RequestIn(me(), asked.scope, asked.consent, asked.item),
        worker().key_id,
    )
    flash(gettext("Your request was received. You can follow it below."))
    return redirect(url_for("portal.erasure"), 303)  # type: ignore[return-value]


@bp.get("/erasures/<erasure_id>/certificate.jws")
def certificate(erasure_id: str) -> Response:
    done = container().retention.get(db(), worker().tenant_id, erasure_id)
    if done.worker_id != me() or done.certificate is None:
        raise NotFound("certificate")
    return _download(
        done.certificate.encode(), "application/jose", f"custody-deletion-{erasure_id}.jws"
    )


@bp.get("/report.pdf")
def report() -> Response:
    who = worker()
    response = send_issued(
        lambda out: container().worker_report.write(who.tenant_id, me(), out, who.key_id),
        "application/pdf",
        "custody-my-report.pdf",
    )
    response.headers.update(HEADERS)
    return response


@bp.get("/help/receipts")
def receipts_help() -> Response:
    return page("receipts_help.html")
