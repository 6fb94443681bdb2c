"""Jinja2 templates of billing's printable documents (a package so that they ship with it)."""
