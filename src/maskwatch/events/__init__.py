"""What ``watch`` saw, kept: counted people, violation events with snapshots, the webhook
outbox and camera states, in SQLite or PostgreSQL."""
