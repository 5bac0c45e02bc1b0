"""Gunicorn settings; every value can be overridden with the usual GUNICORN_* or PORT variables."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
# Two single-threaded workers per core. A request is mostly Python under the GIL, so threads
# add little, and a threaded worker keeps the keep-alive connections it accepted: with a few
# busy clients one worker could end up serving all of them on one core while the other idles.
# A sync worker takes a connection only when it is free, so load spreads over every worker.
# It is meant to sit behind a buffering proxy (slow clients would hold a worker). With
# GUNICORN_THREADS above 1, gunicorn runs threaded workers (gthread) instead.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * max(1, multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "sync" if threads == 1 else "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5  # threaded workers only
max_requests = 5000
max_requests_jitter = 500
# The app is imported once, in the master; workers fork from it. A worker recycled after
# max_requests then starts at once instead of importing everything again (a second or two of
# CPU taken from the other worker, and requests waiting meanwhile).
preload_app = True
accesslog = None  # the app writes structured access logs itself
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    """Connections are opened lazily, in the workers; should the master have opened any, a
    worker drops them from its pools without closing them for the others."""
    from saas.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
