"""Stand-ins for the outside world in tests: a Twilio-compatible HTTP server, an SMTP server,
and a notifier fed events directly."""
