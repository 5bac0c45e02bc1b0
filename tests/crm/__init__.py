"""Tests of the CRM's sales domain."""
