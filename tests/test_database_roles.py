"""Login roles are defined safely when several processes migrate at the same moment (parallel
test sessions, two app hosts starting together): roles belong to the whole server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from saas.database import ensure_app_role, ensure_reader_role


def test_defining_the_roles_concurrently_never_fails(settings):
    def define(_: int) -> None:
        for _round in range(5):
            ensure_app_role(settings)
            ensure_reader_role(settings)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(define, range(6)))  # re-raises the first failure
