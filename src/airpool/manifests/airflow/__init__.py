"""The Kubernetes objects of one Airflow Deployment (Celery, Kubernetes or Local executor), as pure data.

``render.render(spec, secrets)`` is the entry point; the modules next to it each build one family of objects.
"""
