"""Members: gated links and their decisions, registration, pods, the manage page, web sign-in limits."""
