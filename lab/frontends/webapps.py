"""The web applications of a twin node's port 8443 that greet a browser with a login page.

``/ccmadmin`` (CUCM) or ``/cupadmin`` (IM&P), ``/cmplatform`` and ``/ccmservice``: the pages an
administrator opens to see that a node serves its new certificate (the procedure's last step).
``/<app>`` redirects to ``/<app>/``, which redirects to the landing page; without a session
that page is the login form (``j_security_check``, ``j_username``, ``j_password``, ``appNav``,
as the public scripts that log in to ``/cmplatform`` post it). Logging in is served for
``/cmplatform`` only, by :mod:`lab.frontends.cmplatform`, which serves its landing page. Like
everything on 8443 the pages are gone while Cisco Tomcat restarts; a ``webapp-down`` fault
makes Tomcat answer 404 for one application (target) or all of them.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Collection

from aiohttp import web

from lab import facts
from lab.frontends.base import LAB_KEY, NODE_KEY


def add_routes(app: web.Application, served_elsewhere: Collection[str] = ()) -> None:
    """Register the login pages of the applications the node's product serves.

    Args:
        app: The node's application.
        served_elsewhere: Applications whose landing page another frontend serves (it shows
            this module's login form while no session is open); their redirects stay here.
    """
    product = app[NODE_KEY].product
    for name, (_title, _product_name, products) in facts.WEB_LOGIN_APPS.items():
        if product not in products:
            continue
        app.router.add_get(f"/{name}", _redirect(name, f"/{name}/"))
        app.router.add_get(f"/{name}/", _redirect(name, f"/{name}/{facts.WEB_LOGIN_LANDING}"))
        if name not in served_elsewhere:
            app.router.add_get(f"/{name}/{facts.WEB_LOGIN_LANDING}", _login_page(name))


def deployed(request: web.Request, name: str) -> bool:
    """False while a ``webapp-down`` fault takes application ``name`` off the node."""
    twin, node = request.app[LAB_KEY], request.app[NODE_KEY]
    return twin.faults.has("webapp-down", node.hostname, name) is None


def not_found() -> web.Response:
    """Tomcat's 404 page."""
    return web.Response(status=404, text=facts.TOMCAT_NOT_FOUND_PAGE, content_type="text/html")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _redirect(name: str, location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not deployed(request, name):
            return not_found()
        raise web.HTTPFound(location)

    return handler


def _login_page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not deployed(request, name):
            return not_found()
        version = request.app[LAB_KEY].spec.version
        return login_response(name, version)

    return handler


#: Headers of every login page.
LOGIN_HEADERS = {"Cache-Control": "no-cache", "X-Frame-Options": "SAMEORIGIN"}


def login_response(name: str, version: str, error: str | None = None) -> web.Response:
    """The login page of application ``name`` (200), with a refused login's message."""
    title, product_name, _ = facts.WEB_LOGIN_APPS[name]
    return web.Response(
        text=login_html(name, title, product_name, version, error),
        content_type="text/html",
        headers=LOGIN_HEADERS,
    )


def login_html(
    app: str, title: str, product_name: str, version: str, error: str | None = None
) -> str:
    """The login page of one application; ``error`` shows in ``<div id="loginError">``."""
    t, p, a, v = (html.escape(x) for x in (title, product_name, app, version))
    message = f'<div id="loginError">{html.escape(error)}</div>\n' if error else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n</head>\n<body>\n"
        f'<div class="cuesLoginProductName">{p}</div>\n'
        f'<div class="cuesLoginVersion">System version: {v}</div>\n'
        f"{message}"
        f'<form name="logonForm" method="post" action="/{a}/j_security_check" '
        'autocomplete="off">\n'
        f'<input type="hidden" name="appNav" value="{a}">\n'
        '<label for="j_username">Username</label>\n'
        '<input type="text" id="j_username" name="j_username" size="25">\n'
        '<label for="j_password">Password</label>\n'
        '<input type="password" id="j_password" name="j_password" size="25">\n'
        '<button type="submit" class="cuesLoginButton">Log In</button>\n'
        "</form>\n</body>\n</html>\n"
    )
