"""Stored files: attachments on records and company assets (logo, seal), kept in PostgreSQL.

``models.py`` holds the tables, ``services.py`` the commands and reads (permissions, limits,
content types, audit), ``responses.py`` the download headers shared by the web pages and the API.
"""
