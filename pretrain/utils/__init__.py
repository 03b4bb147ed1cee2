"""Small shared utilities: distributed communication and seeding."""
