"""Plumbing shared by every tool: logging, output. No tool logic lives here."""
