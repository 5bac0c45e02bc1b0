"""WSGI entry point for gunicorn: ``gunicorn -c infra/gunicorn.conf.py wsgi:app``."""

from saas.app import create_app

app = create_app()
