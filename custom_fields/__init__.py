"""The metadata store: objects, fields, picklists, views and reports of each tenant."""
