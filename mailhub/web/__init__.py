"""The small web listener for links in mail (issue 19): one-click unsubscribe (RFC 8058),
confirming a join or leave, deciding a held post. It runs in `mailhub serve`'s listener process
when [web] is set, behind the site's TLS reverse proxy.

    listener.py  the thread and event loop it runs on
    app.py       the routes, and the rules every request passes (rate, size, errors as pages)
    actions.py   what each link does, through the same domain functions as the mail path
    limits.py    who the client is (X-Forwarded-For from the local proxy only) and its rate
    pages.py     the HTML templates (templates/web/)

Only `mailhub serve` imports it: aiohttp stays out of every other command."""
