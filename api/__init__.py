"""The HTTP edge: app factory, blueprints, auth, problem+json errors, CLI."""
