"""Integrations: server middleware that continues the caller's trace, and client patches that carry it
to the next service. Each module is small and imports its library only when used."""
