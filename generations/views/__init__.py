"""Thin views, one module per page: they parse the request, call a selector or a service,
and render a template (or one of its partials for htmx)."""
