"""Admin area: operators, roles, permission requests, administrative changes, subscriptions."""
