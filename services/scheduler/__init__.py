"""The scheduler: practice, staff, practitioners, clients, service types and appointments."""
