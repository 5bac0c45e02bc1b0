"""The query builder: filter trees, operators, sorting and keyset paging over any object.

One engine serves list pages, the API, exports, bulk actions and reports. Field names resolve
through the metadata store to SQL expressions, operators come from the field's kind, values are
bound parameters; no user string ever reaches SQL text.
"""
