"""The CRM's sales domain: money, duplicates, pool, quotes and the rules around them."""
