"""Running V6 in production: systemd notifications, health levels, backups, store upkeep."""
