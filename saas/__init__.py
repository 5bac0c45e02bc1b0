"""Kehu: the application (factory, config, auth, signup, web UI, REST API, jobs, CLI)."""
