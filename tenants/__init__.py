"""Tenants, memberships, roles, tenant resolution and scoping (ORM criteria + RLS)."""
