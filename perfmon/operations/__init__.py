"""Operations: per-tenant retention and run-event settings, retention, and the /metrics endpoint."""
