"""A fake Cinder v3 API: one module per resource behind a route table."""
