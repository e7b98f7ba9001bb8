"""`calamity awake`: not available yet in this version."""
