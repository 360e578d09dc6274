"""Persistence: tables, async sessions, repositories and migrations. Handlers never build SQL."""
