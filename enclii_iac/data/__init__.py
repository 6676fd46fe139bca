"""Data services: PostgreSQL (CloudNativePG), restore drills."""
