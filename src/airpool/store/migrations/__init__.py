"""The Alembic history of the schema (env.py, versions/). Run it through ``airpool.services.schema``."""
