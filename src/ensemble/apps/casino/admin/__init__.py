"""B6 admin: members (search, detail, rank and status, soft delete, action log), the
catalogue's admin lists and banners, invite batches, and the events debug routes."""
