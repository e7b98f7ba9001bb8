"""`calamity images`: not available yet in this version."""
