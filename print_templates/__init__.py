"""Print templates and the PDF renderer (quotes, contracts, any record)."""
