"""Mechanisms every Rapport service uses: events, bus, outbox/inbox, db, http, auth, metrics."""
