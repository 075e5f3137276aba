-- The dashboard (/api/stats, issue 25) reads recent time windows: with these its queries are range scans
-- over the last 24 hours or 30 days, not scans of the whole history.
CREATE INDEX connections_connected_at ON connections (connected_at);
CREATE INDEX connections_disconnected_at ON connections (disconnected_at);
CREATE INDEX messages_sent_at ON messages (sent_at);
