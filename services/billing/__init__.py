"""Billing: fees, invoices and their numbers, payments."""
