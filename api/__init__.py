"""The HTTP edge of casestore: FastAPI commands, queries, live stream, auth and OpenAPI."""
