"""The explorer (PRODUCT.md 10): web pages for people who are not writing GraphQL.

Server-rendered HTML (Jinja2 templates in ``templates/``, autoescaped) over the
same store calls and analyses as the API, with htmx (vendored, ``/static``) for
in-place paging and search as you type; every page reads and pages with
JavaScript off. See ``docs/explorer.md`` for the choices and
:mod:`graphsvc.api.explorer.routes` for the pages.
"""

from graphsvc.api.explorer.routes import explorer_router
from graphsvc.api.explorer.session import SessionBook

__all__ = ["SessionBook", "explorer_router"]
