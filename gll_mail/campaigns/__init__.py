"""Campaigns: source files → preflight → Markdown and MJML render → MIME message; audience; lifecycle."""
