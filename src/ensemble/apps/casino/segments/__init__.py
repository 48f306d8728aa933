"""Members' segments: daily figures, the RFM job, recommendations and the self-check quiz."""
