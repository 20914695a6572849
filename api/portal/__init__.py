"""The worker's portal: server-rendered pages, reached through an access link."""
