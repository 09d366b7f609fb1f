"""Tracker adapters: github, jira, notion (and an in-memory one for tests), behind adapters.base."""
