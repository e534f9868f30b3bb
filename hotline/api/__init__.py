"""The JSON API for counsellors, coordinators, operators and admins (Bearer API keys)."""
