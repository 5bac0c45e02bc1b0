"""Stored reports and dashboards around the report engine (:mod:`custom_fields.reports`):
definitions with their sharing, dashboards with filters that apply to every widget, Excel
export, background runs of long reports and scheduled delivery by email. See docs/reports.md."""
