"""`calamity paint`: not available yet in this version."""
