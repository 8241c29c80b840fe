"""The generic REST API toolkit, knowing no node: ISO-8601 and value parsing, ordering, pagination, errors, filters."""
