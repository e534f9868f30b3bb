"""Who is asking: organisation-scoped API keys with a role, stored hashed."""
