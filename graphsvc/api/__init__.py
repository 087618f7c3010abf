"""The service: FastAPI app, GraphQL and REST (see ``create_app``)."""
