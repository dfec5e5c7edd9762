"""The team: accounts that sign in to /admin."""
