"""One reader per dataset format; each yields `Question` records (or `Skipped` items) in a stable order."""
