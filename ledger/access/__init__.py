"""Access: API keys and their principals, worker links and sessions."""
