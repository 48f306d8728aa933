"""Actions: what members do (`POST /api/actions`), recorded in batches and published as
`casino.action` events; the enumerated action types admins extend."""
