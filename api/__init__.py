"""The omnitwin web service: a FastAPI app over the twin (`create_app`), run with
`omnitwin serve`. Runs and comparisons execute in a background worker pool on the
same experiment runner as the CLI and are persisted with SQLAlchemy."""
