"""Call router for Japan's #9999 loneliness and isolation hotline."""
