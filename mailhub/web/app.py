"""The web listener's routes: every path and method in ROUTES, each handler a few lines that
parse, call actions.py (which calls the same domain functions as the mail path) and render a
page. A GET never changes anything; every error is a small page with its status, never a
traceback."""
from __future__ import annotations

import asyncio
import logging
import math
from concurrent.futures import Executor
from typing import Any, Awaitable, Callable

from aiohttp import web

from mailhub.config import Config
from mailhub.i18n.languages import choose, declared_language
from mailhub.logs import event
from mailhub.web.actions import Actions, Page, read_form
from mailhub.web.limits import RateLimiter, client_address
from mailhub.web.pages import render

log = logging.getLogger(__name__)

KIND = r"{kind:[ucm]}"  # links.UNSUBSCRIBE, CONFIRM, MODERATE
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")  # what RFC 8058 senders and browsers post
MAX_FIELDS = 20
# Every page: nothing loads from anywhere (no scripts, no images), forms post only back here, no
# other site may frame a page whose button unsubscribes, and a link's token leaks to nobody.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # A page answers one link at one moment: never kept by a cache, never in a search engine.
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}

ACTIONS: web.AppKey[Actions] = web.AppKey("actions", Actions)
EXECUTOR: web.AppKey[Executor] = web.AppKey("executor", Executor)
CONFIG: web.AppKey[Config] = web.AppKey("config", Config)


def client_of(request: web.Request) -> str:
    """Who asks: the peer, or behind the local proxy the address it forwards (limits.client_address)."""
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", []))


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok", content_type="text/plain")


async def show(request: web.Request) -> web.Response:
    kind, token = request.match_info["kind"], request.match_info["token"]
    page = await _off_loop(request, request.app[ACTIONS].show, kind, token)
    return _answer(request, page, kind)


async def act(request: web.Request) -> web.Response:
    kind, token = request.match_info["kind"], request.match_info["token"]
    form = read_form(kind, await _form(request))
    if form is None:
        return error_page(request, 400)
    page = await _off_loop(request, request.app[ACTIONS].act, kind, token, form, client_of(request))
    return _answer(request, page, kind)


ROUTES = [
    web.get("/health", health),
    web.get(f"/{KIND}/{{token}}", show),  # also HEAD
    web.post(f"/{KIND}/{{token}}", act),
]


async def _form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields (the first of each name), or 400."""
    if request.content_type not in FORMS:
        raise web.HTTPBadRequest()
    try:
        posted = await request.post()
    except web.HTTPException:
        raise  # 413 past client_max_size
    except Exception:  # noqa: BLE001 - a broken multipart body, a bad charset: the client's fault
        raise web.HTTPBadRequest() from None
    form: dict[str, str] = {}
    for name, value in posted.items():
        if isinstance(value, str):
            form.setdefault(name, value)
    return form


def _off_loop(request: web.Request, work: Callable[..., Page], *args: Any) -> Awaitable[Page]:
    """Database work on the listener's threads: the event loop keeps answering meanwhile."""
    return asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR], work, *args)


def _answer(request: web.Request, page: Page, kind: str) -> web.Response:
    if page.status == 404:  # the peer only: a refused link says nothing of whom it named
        event(log, "web_link_refused", kind=kind, method=request.method, peer=client_of(request))
    return html(request, page.template, page.status, language=page.language, **page.context)


def html(request: web.Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
         language: str | None = None, **context: Any) -> web.Response:
    """A page in `language`, the reader's; None when the request names nobody (an error, a link
    that is not good): then in the language the browser asks for, else the site's."""
    headers = dict(headers or {})
    if language is None:
        language = browser_language(request)
        headers["Vary"] = "Accept-Language"
    headers["Content-Language"] = language
    text = render(request.app[CONFIG], template, language, **context)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)


def browser_language(request: web.Request) -> str:
    declared = declared_language("", request.headers.get("Accept-Language", ""))
    return choose(declared=declared, site=request.app[CONFIG].server.language)


PROBLEMS = {400: "bad_request", 404: "not_found", 405: "bad_method", 413: "too_large", 429: "too_many"}  # error.html's


def error_page(request: web.Request, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return html(request, "error.html", status, headers, problem=PROBLEMS.get(status, "failed"))


def _guard(limiter: RateLimiter, max_body: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        """Who asks, how often, how much; and every failure as a page."""
        client = client_of(request)
        try:
            wait = limiter.wait(client)
            if wait:
                return error_page(request, 429, {"Retry-After": str(math.ceil(wait))})
            if (request.content_length or 0) > max_body:
                return error_page(request, 413)
            try:
                return await handler(request)
            except web.HTTPException as exc:  # the router's 404 and 405, our 400, aiohttp's 413
                allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                return error_page(request, exc.status if exc.status >= 400 else 500, allow)
        except Exception:  # noqa: BLE001 - never a traceback to the client; the log has it
            event(log, "web_failed", level=logging.ERROR, exc_info=True, method=request.method,
                  route=request.match_info.route.resource.canonical if request.match_info.route.resource else None,
                  peer=client)
            try:
                return error_page(request, 500)
            except Exception:  # noqa: BLE001 - even the error page failed (a broken template)
                return web.Response(text="Something went wrong.", status=500, content_type="text/plain")
    return guard


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(HEADERS)
    response.headers["Server"] = "mailhub"


def make_app(config: Config, actions: Actions, executor: Executor) -> web.Application:
    app = web.Application(middlewares=[_guard(RateLimiter(config.web.requests_per_minute), config.web.max_body)],
                          client_max_size=config.web.max_body, client_max_fields=MAX_FIELDS)
    app[ACTIONS], app[EXECUTOR], app[CONFIG] = actions, executor, config
    app.add_routes(ROUTES)
    app.on_response_prepare.append(_headers)
    return app
