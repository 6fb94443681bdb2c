"""The notifier: reminder planning and sending by SMS and email."""
