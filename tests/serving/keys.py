"""The API keys of the serving tests (plain data: parametrized tests name them too)."""

READ = "read-key-0123456789abcdef"
EVENTS = "events-key-0123456789abcdef"
ADMIN = "admin-key-0123456789abcdef"
ALL = "all-scopes-key-0123456789abcdef"
KEYS = {READ: ["read"], EVENTS: ["events"], ADMIN: ["admin"], ALL: ["read", "events", "admin"]}
