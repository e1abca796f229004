"""The web applications of a twin node's port 8443 that greet a browser with a login page.

``/ccmadmin`` (CUCM) or ``/cupadmin`` (IM&P), ``/cmplatform`` and ``/ccmservice``: the pages an
administrator opens to see that a node serves its new certificate (the procedure's last step).
``/<app>`` redirects to ``/<app>/``, which redirects to the landing page; without a session
that page is the login form (``j_security_check``, ``j_username``, ``j_password``, ``appNav``,
as the public scripts that log in to ``/cmplatform`` post it). Logging in is not served. Like
everything on 8443 the pages are gone while Cisco Tomcat restarts; a ``webapp-down`` fault
makes Tomcat answer 404 for one application (target) or all of them.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from aiohttp import web

from lab import facts
from lab.frontends.base import LAB_KEY, NODE_KEY


def add_routes(app: web.Application) -> None:
    """Register the login pages of the applications the node's product serves."""
    product = app[NODE_KEY].product
    for name, (_title, _product_name, products) in facts.WEB_LOGIN_APPS.items():
        if product not in products:
            continue
        app.router.add_get(f"/{name}", _redirect(name, f"/{name}/"))
        app.router.add_get(f"/{name}/", _redirect(name, f"/{name}/{facts.WEB_LOGIN_LANDING}"))
        app.router.add_get(f"/{name}/{facts.WEB_LOGIN_LANDING}", _login_page(name))


def _deployed(request: web.Request, name: str) -> bool:
    twin, node = request.app[LAB_KEY], request.app[NODE_KEY]
    return twin.faults.has("webapp-down", node.hostname, name) is None


def _not_found() -> web.Response:
    return web.Response(status=404, text=facts.TOMCAT_NOT_FOUND_PAGE, content_type="text/html")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _redirect(name: str, location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not _deployed(request, name):
            return _not_found()
        raise web.HTTPFound(location)

    return handler


def _login_page(name: str) -> Handler:
    title, product_name, _ = facts.WEB_LOGIN_APPS[name]

    async def handler(request: web.Request) -> web.StreamResponse:
        if not _deployed(request, name):
            return _not_found()
        version = request.app[LAB_KEY].spec.version
        return web.Response(
            text=login_html(name, title, product_name, version),
            content_type="text/html",
            headers={"Cache-Control": "no-cache", "X-Frame-Options": "SAMEORIGIN"},
        )

    return handler


def login_html(app: str, title: str, product_name: str, version: str) -> str:
    """The login page of one application."""
    t, p, a, v = (html.escape(x) for x in (title, product_name, app, version))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n</head>\n<body>\n"
        f'<div class="cuesLoginProductName">{p}</div>\n'
        f'<div class="cuesLoginVersion">System version: {v}</div>\n'
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
