"""Resolvers, one module per area. Each module exposes ``BINDABLES`` for ``api.schema``.

Resolvers are thin: read the arguments, call one service function with the caller, return the service's view.
Field names map to the views' snake_case attributes (the schema is built with ``convert_names_case``), so only
fields that differ from a view attribute need a resolver of their own.
"""
