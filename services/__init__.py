"""Rapport's three services and the commands that run them."""
